package geminihooks

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
)

func TestBatchCreateSendsSnakeCaseCallback(t *testing.T) {
	t.Parallel()
	const path = "POST /v1beta/models/gemini-2.5-flash:batchGenerateContent"
	answer := reply(200, `{"name":"batches/b1","metadata":{"name":"batches/b1","state":"BATCH_STATE_PENDING"}}`)

	t.Run("callback", func(t *testing.T) {
		t.Parallel()
		c, f := setup(t, map[string]http.HandlerFunc{path: answer})
		provided := 0
		cfg := &genai.CreateBatchJobConfig{
			DisplayName: "nightly",
			HTTPOptions: &genai.HTTPOptions{ExtrasRequestProvider: func(b map[string]any) map[string]any {
				provided++
				b["caller_extra"] = true
				return b
			}},
		}
		before := *cfg
		job, err := c.Batches.Create(context.Background(), "gemini-2.5-flash", &genai.BatchJobSource{FileName: "files/in"}, cfg, testCallback)
		if err != nil {
			t.Fatal(err)
		}
		if job.Name != "batches/b1" {
			t.Errorf("job name %q", job.Name)
		}
		body := f.last(t).Body
		v := jsonValue(t, body)
		if d := cmp.Diff(jsonValue(t, []byte(wantWebhookConfig)), at(v, "batch", "webhook_config")); d != "" {
			t.Errorf("batch.webhook_config (-want +got):\n%s\nbody %s", d, body)
		}
		if at(v, "webhook_config") != nil {
			t.Error("webhook_config also sent at the top level")
		}
		if at(v, "batch", "display_name") == nil && at(v, "batch", "displayName") == nil {
			t.Errorf("display name lost: %s", body)
		}
		assertNoCamelCase(t, body)
		if at(v, "caller_extra") != true || provided != 1 {
			t.Errorf("caller's request hook ran %d times", provided)
		}
		if cfg.HTTPOptions != before.HTTPOptions || cfg.WebhookConfig != nil || cfg.HTTPOptions.Headers != nil {
			t.Error("caller's config modified")
		}
	})

	t.Run("genai webhook config moved", func(t *testing.T) {
		t.Parallel()
		c, f := setup(t, map[string]http.HandlerFunc{path: answer})
		own := &genai.WebhookConfig{Uris: testCallback.URIs, UserMetadata: testCallback.UserMetadata}
		cfg := &genai.CreateBatchJobConfig{WebhookConfig: own}
		if _, err := c.Batches.Create(context.Background(), "gemini-2.5-flash", &genai.BatchJobSource{FileName: "files/in"}, cfg, nil); err != nil {
			t.Fatal(err)
		}
		body := f.last(t).Body
		if d := cmp.Diff(jsonValue(t, []byte(wantWebhookConfig)), at(jsonValue(t, body), "batch", "webhook_config")); d != "" {
			t.Errorf("batch.webhook_config (-want +got):\n%s", d)
		}
		assertNoCamelCase(t, body)
		if cfg.WebhookConfig != own || cfg.HTTPOptions != nil {
			t.Error("caller's config modified")
		}
	})

	t.Run("no callback", func(t *testing.T) {
		t.Parallel()
		c, f := setup(t, map[string]http.HandlerFunc{path: answer})
		if _, err := c.Batches.Create(context.Background(), "gemini-2.5-flash", &genai.BatchJobSource{FileName: "files/in"}, nil, nil); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(f.last(t).Body), "webhook") {
			t.Errorf("webhook config sent without a callback: %s", f.last(t).Body)
		}
	})

	t.Run("rejected before sending", func(t *testing.T) {
		t.Parallel()
		c, f := setup(t, map[string]http.HandlerFunc{path: answer})
		ctx := context.Background()
		src := &genai.BatchJobSource{FileName: "files/in"}
		_, err := c.Batches.Create(ctx, "gemini-2.5-flash", src, &genai.CreateBatchJobConfig{WebhookConfig: &genai.WebhookConfig{Uris: []string{"https://a.example/"}}}, testCallback)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("two callbacks: %v", err)
		}
		_, err = c.Batches.Create(ctx, "gemini-2.5-flash", src, nil, &Callback{URIs: []string{"http://a.example/"}})
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("http callback: %v", err)
		}
		if _, err := c.Batches.Create(ctx, "gemini-2.5-flash", nil, nil, testCallback); err == nil {
			t.Error("nil source accepted")
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
}
