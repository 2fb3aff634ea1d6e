package emulator_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"
)

// A batch run through the unmodified genai client, finished on demand, and
// its signed event received and verified.
func Example() {
	ctx := context.Background()
	s, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true, ManualJobs: true})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 1)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header, body}
	}))
	defer endpoint.Close()

	// WebhookService is served on v1beta only, and genai v1.78 and later
	// default to v1, so a genai client that manages webhooks names v1beta.
	client, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey: s.APIKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.URL, APIVersion: "v1beta"},
	})
	if err != nil {
		panic(err)
	}
	wh, err := client.Webhooks.Create(ctx, operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		URI: endpoint.URL, SubscribedEvents: []webhooks.WebhookSubscribedEvent{webhooks.WebhookSubscribedEventBatchSucceeded},
	}})
	if err != nil {
		panic(err)
	}
	job, err := client.Batches.Create(ctx, "gemini-2.5-flash",
		&genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("Hello")}}}, nil)
	if err != nil {
		panic(err)
	}
	if err := s.Finish(job.Name, "succeeded"); err != nil {
		panic(err)
	}

	d := <-got
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{*wh.Webhook.NewSigningSecret}})
	if err != nil {
		panic(err)
	}
	_, err = v.Verify(ctx, d.header, d.body)
	fmt.Println("signature ok:", err == nil)
	ev, err := event.Parse(d.body)
	if err != nil {
		panic(err)
	}
	data, err := event.As[*event.Batch](ev)
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, data.ID == job.Name)
	// Output:
	// signature ok: true
	// batch.succeeded true
}
