package geminihooks

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/interactions"
)

func TestCallbackValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		insecure bool
		cb       Callback
		wantErr  string // "" for valid
	}{
		{"https", false, Callback{URIs: []string{"https://example.com/h?x=1"}}, ""},
		{"two https", false, Callback{URIs: []string{"https://a.example/h", "https://b.example/h"}, UserMetadata: map[string]any{"k": 1}}, ""},
		{"loopback http allowed", true, Callback{URIs: []string{"http://127.0.0.1:8080/h", "http://localhost/h", "http://[::1]:9/h"}}, ""},
		{"no uris", false, Callback{}, "no URIs"},
		{"http remote", false, Callback{URIs: []string{"http://example.com/h"}}, "must use https"},
		{"http remote even when allowed", true, Callback{URIs: []string{"http://example.com/h"}}, "must use https"},
		{"loopback http not allowed", false, Callback{URIs: []string{"http://127.0.0.1:8080/h"}}, "WithAllowInsecureCallbacks"},
		{"duplicate", false, Callback{URIs: []string{"https://a.example/h", "https://a.example/h"}}, "listed twice"},
		{"ftp", false, Callback{URIs: []string{"ftp://a.example/h"}}, "must use https"},
		{"relative", false, Callback{URIs: []string{"/hooks"}}, "not absolute"},
		{"port but no host", false, Callback{URIs: []string{"https://:443/hooks"}}, "not absolute"},
		{"empty uri", false, Callback{URIs: []string{""}}, "empty uri"},
		{"credentials", false, Callback{URIs: []string{"https://user:pw@a.example/h"}}, "carries credentials"},
		{"fragment", false, Callback{URIs: []string{"https://a.example/h#frag"}}, "fragment"},
		{"long uri", false, Callback{URIs: []string{"https://a.example/" + strings.Repeat("a", MaxCallbackURIBytes)}}, "longer than"},
		{"metadata chan", false, Callback{URIs: []string{"https://a.example/h"}, UserMetadata: map[string]any{"c": make(chan int)}}, "does not encode"},
		{"metadata NaN", false, Callback{URIs: []string{"https://a.example/h"}, UserMetadata: map[string]any{"n": math.NaN()}}, "does not encode"},
		{"metadata too big", false, Callback{URIs: []string{"https://a.example/h"}, UserMetadata: map[string]any{"s": strings.Repeat("a", MaxUserMetadataBytes)}}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if tt.insecure {
				opts = append(opts, WithAllowInsecureCallbacks())
			}
			c := newTestClient(t, "https://example.invalid", testAPIKey, opts...)
			_, err := c.prepare(&tt.cb)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("valid callback rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("error %v does not wrap ErrInvalidCallback", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q shows URI credentials", err)
			}
		})
	}
}

func TestCallbackErrorHidesQuery(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, "https://example.invalid", testAPIKey)
	_, err := c.prepare(&Callback{URIs: []string{"http://example.com/h?token=s3cr3t"}})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %v shows the URI's query", err)
	}
}

var testCallback = &Callback{
	URIs:         []string{"https://hooks.example.com/gemini"},
	UserMetadata: map[string]any{"order_id": "A-17", "attempt": 2, "big": 9007199254740993},
}

const wantWebhookConfig = `{"uris":["https://hooks.example.com/gemini"],"user_metadata":{"order_id":"A-17","attempt":2,"big":9007199254740993}}`

// at returns the value at path in a decoded JSON object.
func at(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func assertNoCamelCase(t *testing.T, body []byte) {
	t.Helper()
	for _, s := range []string{"userMetadata", "webhookConfig"} {
		if strings.Contains(string(body), s) {
			t.Errorf("body carries genai's camelCase %q: %s", s, body)
		}
	}
}

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
		if !errors.Is(err, ErrInvalidCallback) {
			t.Errorf("two callbacks: %v", err)
		}
		_, err = c.Batches.Create(ctx, "gemini-2.5-flash", src, nil, &Callback{URIs: []string{"http://a.example/"}})
		if !errors.Is(err, ErrInvalidCallback) {
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

func TestVideosGenerateSendsTopLevelCallback(t *testing.T) {
	t.Parallel()
	c, f := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/models/veo-3.0-generate-001:predictLongRunning": reply(200, `{"name":"models/veo-3.0-generate-001/operations/op1"}`),
	})
	src := &genai.GenerateVideosSource{Prompt: "a cat surfing"}
	cfg := &genai.GenerateVideosConfig{NumberOfVideos: 1}
	op, err := c.Videos.Generate(context.Background(), "veo-3.0-generate-001", src, cfg, testCallback)
	if err != nil {
		t.Fatal(err)
	}
	if op.Name != "models/veo-3.0-generate-001/operations/op1" {
		t.Errorf("operation name %q", op.Name)
	}
	body := f.last(t).Body
	v := jsonValue(t, body)
	if d := cmp.Diff(jsonValue(t, []byte(wantWebhookConfig)), at(v, "webhook_config")); d != "" {
		t.Errorf("webhook_config (-want +got):\n%s\nbody %s", d, body)
	}
	if at(v, "instances") == nil {
		t.Errorf("prompt lost: %s", body)
	}
	assertNoCamelCase(t, body)
	if cfg.HTTPOptions != nil || cfg.WebhookConfig != nil {
		t.Error("caller's config modified")
	}
	if _, err := c.Videos.Generate(context.Background(), "veo", nil, nil, nil); err == nil {
		t.Error("nil source accepted")
	}
}

func TestInteractionsCreateSendsCallback(t *testing.T) {
	t.Parallel()
	c, f := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/interactions": reply(200, `{"id":"int_1","status":"in_progress","webhook_config":`+wantWebhookConfig+`}`),
	})
	req := interactions.CreateModelInteraction{
		Model: "gemini-2.5-flash",
		Input: Ptr(interactions.NewInteractionsInput("hello")),
	}
	it, err := c.Interactions.Create(context.Background(), req, testCallback)
	if err != nil {
		t.Fatal(err)
	}
	if it.ID == nil || *it.ID != "int_1" || it.Status != interactions.InteractionStatusInProgress {
		t.Errorf("interaction %+v", it)
	}
	body := f.last(t).Body
	want := `{"model":"gemini-2.5-flash","input":"hello","background":true,"webhook_config":` + wantWebhookConfig + `}`
	if d := cmp.Diff(jsonValue(t, []byte(want)), jsonValue(t, body)); d != "" {
		t.Errorf("body (-want +got):\n%s", d)
	}
	if req.Background != nil || req.WebhookConfig != nil {
		t.Error("caller's request modified")
	}

	agent := interactions.CreateAgentInteraction{Agent: "deep-research-pro-preview-12-2025", Input: Ptr(interactions.NewInteractionsInput("go"))}
	if _, err := c.Interactions.CreateAgent(context.Background(), agent, testCallback); err != nil {
		t.Fatal(err)
	}
	v := jsonValue(t, f.last(t).Body)
	if at(v, "background") != true || at(v, "agent") != "deep-research-pro-preview-12-2025" {
		t.Errorf("agent body %s", f.last(t).Body)
	}
	if d := cmp.Diff(jsonValue(t, []byte(wantWebhookConfig)), at(v, "webhook_config")); d != "" {
		t.Errorf("agent webhook_config (-want +got):\n%s", d)
	}
}

func TestInteractionsCreateRejects(t *testing.T) {
	t.Parallel()
	c, f := setup(t, nil)
	ctx := context.Background()
	no := false
	yes := true
	for name, req := range map[string]interactions.CreateModelInteraction{
		"foreground with callback": {Model: "m", Background: &no},
		"stream":                   {Model: "m", Stream: &yes},
		"two callbacks":            {Model: "m", WebhookConfig: &interactions.WebhookConfig{Uris: []string{"https://a.example/"}}},
	} {
		if _, err := c.Interactions.Create(ctx, req, testCallback); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestSubmitFunctionResults(t *testing.T) {
	t.Parallel()
	pending := `{"id":"int_1","status":"requires_action","model":"gemini-2.5-flash",
	"tools":[{"type":"function","name":"get_weather"}],
	"steps":[{"type":"function_call","id":"call_1","name":"get_weather","arguments":{"city":"Oslo"}}],
	"webhook_config":` + wantWebhookConfig + `}`
	routes := map[string]http.HandlerFunc{
		"GET /v1beta/interactions/int_1":  reply(200, pending),
		"GET /v1beta/interactions/int_2":  reply(200, `{"id":"int_2","status":"completed","model":"m"}`),
		"GET /v1beta/interactions/int_3":  reply(200, `{"id":"int_3","status":"requires_action","model":"m"}`),
		"GET /v1beta/interactions/gone":   reply(404, notFoundJSON),
		"POST /v1beta/interactions":       reply(200, `{"id":"int_9","status":"in_progress"}`),
		"GET /v1beta/interactions/int_1x": reply(200, pending),
	}
	c, f := setup(t, routes)
	ctx := context.Background()
	it, err := c.Interactions.SubmitFunctionResults(ctx, "int_1", []FunctionResult{{CallID: "call_1", Name: "get_weather", Result: map[string]any{"temp_c": 4}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *it.ID != "int_9" {
		t.Errorf("follow-up id %q", *it.ID)
	}
	want := `{"model":"gemini-2.5-flash","previous_interaction_id":"int_1","background":true,
	"tools":[{"type":"function","name":"get_weather"}],
	"input":[{"type":"function_result","call_id":"call_1","name":"get_weather","result":{"temp_c":4}}],
	"webhook_config":` + wantWebhookConfig + `}`
	if d := cmp.Diff(jsonValue(t, []byte(want)), jsonValue(t, f.last(t).Body)); d != "" {
		t.Errorf("follow-up body (-want +got):\n%s", d)
	}

	// An explicit callback replaces the carried one; a string result is text.
	other := &Callback{URIs: []string{"https://other.example/h"}}
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "int_1", []FunctionResult{{CallID: "call_1", Result: "sunny", IsError: true}}, other); err != nil {
		t.Fatal(err)
	}
	v := jsonValue(t, f.last(t).Body)
	if d := cmp.Diff(map[string]any{"uris": []any{"https://other.example/h"}}, at(v, "webhook_config")); d != "" {
		t.Errorf("webhook_config (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]any{map[string]any{"type": "function_result", "call_id": "call_1", "result": "sunny", "is_error": true}}, at(v, "input")); d != "" {
		t.Errorf("input (-want +got):\n%s", d)
	}

	sent := len(f.requests())
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "int_2", []FunctionResult{{CallID: "c", Result: "x"}}, nil); !errors.Is(err, ErrNotRequiringAction) {
		t.Errorf("completed interaction: %v", err)
	}
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "int_3", []FunctionResult{{CallID: "c", Result: "x"}}, nil); !errors.Is(err, ErrInvalidCallback) {
		t.Errorf("no callback to carry: %v", err)
	}
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "int_1", []FunctionResult{{CallID: "call_7", Result: "x"}}, nil); err == nil {
		t.Error("result for an unknown call accepted")
	}
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "gone", []FunctionResult{{CallID: "c", Result: "x"}}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing interaction: %v", err)
	}
	for name, rs := range map[string][]FunctionResult{
		"none":      nil,
		"no call":   {{Result: "x"}},
		"twice":     {{CallID: "a", Result: "x"}, {CallID: "a", Result: "y"}},
		"bad value": {{CallID: "a", Result: make(chan int)}},
	} {
		if _, err := c.Interactions.SubmitFunctionResults(ctx, "int_1", rs, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, r := range f.requests()[sent:] {
		if r.Method == http.MethodPost {
			t.Errorf("a rejected submission created an interaction: %s", r.Body)
		}
	}
}

// A request hook set on the genai client itself still runs: genai calls only
// the request's hook when there is one, so ours chains the client's.
func TestCallbackKeepsClientLevelRequestHook(t *testing.T) {
	t.Parallel()
	_, f := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/models/veo:predictLongRunning": reply(200, `{"name":"models/veo/operations/op1"}`),
	})
	gc, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:  testAPIKey,
		Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: f.srv.URL, ExtrasRequestProvider: func(b map[string]any) map[string]any {
			b["client_extra"] = "yes"
			return b
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(gc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Videos.Generate(context.Background(), "veo", &genai.GenerateVideosSource{Prompt: "p"}, nil, testCallback); err != nil {
		t.Fatal(err)
	}
	v := jsonValue(t, f.last(t).Body)
	if at(v, "client_extra") != "yes" || at(v, "webhook_config") == nil {
		t.Errorf("body %s lacks the client's field or the callback", f.last(t).Body)
	}
}
