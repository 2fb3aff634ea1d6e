package geminihooks

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai/interactions/models/interactions"
)

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
