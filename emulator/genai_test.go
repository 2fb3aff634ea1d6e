package emulator_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"
)

func ptr[T any](v T) *T { return &v }

// TestGenAIWebhooks drives the whole WebhookService through the unmodified
// genai v1.77.0 client.
func TestGenAIWebhooks(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	rcv := newReceiver(t, 16)
	c := newClient(t, s)
	ctx := t.Context()

	created, err := c.Webhooks.Create(ctx, operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		Name:             ptr("orders"),
		URI:              rcv.URL + "/hook",
		SubscribedEvents: []webhooks.WebhookSubscribedEvent{webhooks.WebhookSubscribedEventBatchSucceeded, webhooks.WebhookSubscribedEventBatchFailed},
	}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	wh := created.Webhook
	secret := wh.GetNewSigningSecret()
	if secret == nil || !strings.HasPrefix(*secret, "whsec_") {
		t.Fatalf("Create: new_signing_secret = %v, want whsec_...", secret)
	}
	id := *wh.GetID()
	if len(id) != 36 || *wh.GetState() != webhooks.WebhookStateEnabled || len(wh.SigningSecrets) != 1 ||
		*wh.SigningSecrets[0].TruncatedSecret != "whsec_..."+(*secret)[len(*secret)-4:] {
		t.Fatalf("Create returned %+v", wh)
	}

	got, err := c.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Webhook.NewSigningSecret != nil {
		t.Error("Get shows new_signing_secret; it is shown once, on create")
	}
	if got.Webhook.GetURI() != rcv.URL+"/hook" || *got.Webhook.GetName() != "orders" {
		t.Errorf("Get = %+v", got.Webhook)
	}

	// Ping delivers a signed webhook.ping.
	if _, err := c.Webhooks.Ping(ctx, operations.PingWebhookRequest{ID: id, Body: &webhooks.PingWebhookRequest{}}); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	d := rcv.next(t)
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{*secret}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, d.header, d.body); err != nil {
		t.Fatalf("ping signature: %v", err)
	}
	ev, err := event.Parse(d.body)
	if err != nil || ev.Type != "webhook.ping" || !strings.Contains(string(ev.Data), id) {
		t.Fatalf("ping event = %+v, %v", ev, err)
	}

	// Update with a mask: disable, then re-enable.
	up, err := c.Webhooks.Update(ctx, operations.UpdateWebhookRequest{
		ID: id, UpdateMask: ptr("state"), Body: webhooks.WebhookUpdate{State: webhooks.WebhookUpdateStateDisabled.ToPointer()},
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if *up.Webhook.GetState() != webhooks.WebhookStateDisabled || *up.Webhook.GetName() != "orders" {
		t.Fatalf("Update = %+v", up.Webhook)
	}
	up, err = c.Webhooks.Update(ctx, operations.UpdateWebhookRequest{
		ID: id, UpdateMask: ptr("state,name"),
		Body: webhooks.WebhookUpdate{State: webhooks.WebhookUpdateStateEnabled.ToPointer(), Name: ptr("renamed")},
	})
	if err != nil || *up.Webhook.GetState() != webhooks.WebhookStateEnabled || *up.Webhook.GetName() != "renamed" {
		t.Fatalf("Update = %+v, %v", up, err)
	}

	// Rotate with the 24h grace: two live secrets, the old one expiring.
	rot, err := c.Webhooks.RotateSigningSecret(ctx, operations.RotateSigningSecretRequest{
		ID: id, Body: webhooks.RotateSigningSecretRequest{RevocationBehavior: webhooks.RevocationBehaviorRevokePreviousSecretsAfterH24.ToPointer()},
	})
	if err != nil {
		t.Fatalf("RotateSigningSecret: %v", err)
	}
	newSecret := rot.WebhookRotateSigningSecretResponse.GetSecret()
	if newSecret == nil || *newSecret == *secret {
		t.Fatalf("rotate returned %v", newSecret)
	}
	got, err = c.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if ss := got.Webhook.SigningSecrets; len(ss) != 2 || ss[0].ExpireTime != nil || ss[1].ExpireTime == nil {
		t.Fatalf("after graceful rotation signing_secrets = %+v", ss)
	}
	// Immediate revocation leaves one.
	if _, err := c.Webhooks.RotateSigningSecret(ctx, operations.RotateSigningSecretRequest{
		ID: id, Body: webhooks.RotateSigningSecretRequest{RevocationBehavior: webhooks.RevocationBehaviorRevokePreviousSecretsImmediately.ToPointer()},
	}); err != nil {
		t.Fatalf("RotateSigningSecret: %v", err)
	}
	got, err = c.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil || len(got.Webhook.SigningSecrets) != 1 {
		t.Fatalf("after immediate rotation: %+v, %v", got, err)
	}

	// List pages through more webhooks than one page holds.
	for i := range 4 {
		if _, err := c.Webhooks.Create(ctx, operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
			URI: "https://example.com/" + string(rune('a'+i)), SubscribedEvents: []webhooks.WebhookSubscribedEvent{webhooks.WebhookSubscribedEventVideoGenerated},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	var token *string
	pages := 0
	for {
		l, err := c.Webhooks.List(ctx, operations.ListWebhooksRequest{PageSize: ptr(2), PageToken: token})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		pages++
		for _, w := range l.WebhookListResponse.Webhooks {
			if w.NewSigningSecret != nil {
				t.Error("List shows new_signing_secret")
			}
			ids = append(ids, *w.ID)
		}
		token = l.WebhookListResponse.NextPageToken
		if token == nil {
			break
		}
	}
	if len(ids) != 5 || pages != 3 || ids[0] != id {
		t.Fatalf("List: %d webhooks in %d pages (%v)", len(ids), pages, ids)
	}

	if _, err := c.Webhooks.Delete(ctx, operations.DeleteWebhookRequest{ID: id}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = c.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	var apiErr *apierrors.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || !strings.Contains(apiErr.Body, `"status":"NOT_FOUND"`) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

// TestGenAIWebhookRejections shows that genai surfaces the real service's
// validation errors from the emulator.
func TestGenAIWebhookRejections(t *testing.T) {
	t.Parallel()
	s, err := newServerNoLoopback(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	for _, tc := range []struct {
		name string
		in   webhooks.WebhookInput
		want string
	}{
		{"http uri", webhooks.WebhookInput{URI: "http://127.0.0.1:9/x", SubscribedEvents: []webhooks.WebhookSubscribedEvent{"batch.failed"}}, "https"},
		{"unknown event", webhooks.WebhookInput{URI: "https://example.com/x", SubscribedEvents: []webhooks.WebhookSubscribedEvent{"batch.exploded"}}, "batch.exploded"},
		{"no events", webhooks.WebhookInput{URI: "https://example.com/x"}, "at least one event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Webhooks.Create(context.Background(), operations.CreateWebhookRequest{Body: tc.in})
			var apiErr *apierrors.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest ||
				!strings.Contains(apiErr.Body, `"status":"INVALID_ARGUMENT"`) || !strings.Contains(apiErr.Body, tc.want) {
				t.Fatalf("Create: %v, want a 400 INVALID_ARGUMENT mentioning %s", err, tc.want)
			}
		})
	}
}
