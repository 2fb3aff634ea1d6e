package geminihooks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
)

func TestInteractionsCreateSendsCallback(t *testing.T) {
	t.Parallel()
	c, f := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/interactions": reply(200, `{"id":"int_1","status":"in_progress","webhook_config":`+wantWebhookConfig+`}`),
	})
	req := InteractionRequest{Model: "gemini-2.5-flash", Input: "hello"}
	it, err := c.Interactions.Create(context.Background(), req, testCallback)
	if err != nil {
		t.Fatal(err)
	}
	if it.ID != "int_1" || it.Status != "in_progress" {
		t.Errorf("interaction %+v", it)
	}
	if it.Callback == nil || len(it.Callback.URIs) != 1 || it.Callback.URIs[0] != testCallback.URIs[0] {
		t.Errorf("echoed callback %+v", it.Callback)
	}
	body := f.last(t).Body
	want := `{"model":"gemini-2.5-flash","input":"hello","background":true,"webhook_config":` + wantWebhookConfig + `}`
	if d := cmp.Diff(jsonValue(t, []byte(want)), jsonValue(t, body)); d != "" {
		t.Errorf("body (-want +got):\n%s", d)
	}
	if d := cmp.Diff(InteractionRequest{Model: "gemini-2.5-flash", Input: "hello"}, req); d != "" {
		t.Errorf("caller's request modified (-want +got):\n%s", d)
	}

	agent := InteractionRequest{Agent: "deep-research-pro-preview-12-2025", Input: "go"}
	if _, err := c.Interactions.Create(context.Background(), agent, testCallback); err != nil {
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
	for name, req := range map[string]InteractionRequest{
		"neither model nor agent": {Input: "hi"},
		"model and agent":         {Model: "m", Agent: "a"},
		"unnamed tool":            {Model: "m", Tools: []Function{{Description: "d"}}},
		"bad callback":            {Model: "m"},
	} {
		cb := testCallback
		if name == "bad callback" {
			cb = &Callback{URIs: []string{"http://a.example/"}}
		}
		if _, err := c.Interactions.Create(ctx, req, cb); err == nil {
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
	it, err := c.Interactions.SubmitFunctionResults(ctx, "int_1", []FunctionCall{{ID: "call_1", Name: "get_weather", Arguments: map[string]any{"city": "Oslo"}, Result: map[string]any{"temp_c": 4}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if it.ID != "int_9" {
		t.Errorf("follow-up id %q", it.ID)
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
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "int_1", []FunctionCall{{ID: "call_1", Result: "sunny", IsError: true}}, other); err != nil {
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
	_, err = c.Interactions.SubmitFunctionResults(ctx, "int_2", []FunctionCall{{ID: "c", Result: "x"}}, nil)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "not waiting for function results") {
		t.Errorf("completed interaction: %v", err)
	}
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "int_3", []FunctionCall{{ID: "c", Result: "x"}}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no callback to carry: %v", err)
	}
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "int_1", []FunctionCall{{ID: "call_7", Result: "x"}}, nil); err == nil {
		t.Error("result for an unknown call accepted")
	}
	if _, err := c.Interactions.SubmitFunctionResults(ctx, "gone", []FunctionCall{{ID: "c", Result: "x"}}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing interaction: %v", err)
	}
	for name, rs := range map[string][]FunctionCall{
		"none":      nil,
		"no call":   {{Result: "x"}},
		"twice":     {{ID: "a", Result: "x"}, {ID: "a", Result: "y"}},
		"bad value": {{ID: "a", Result: make(chan int)}},
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

// TestInteractionRequestBody checks that an InteractionRequest goes out as
// the body genai's own types make for the same request.
func TestInteractionRequestBody(t *testing.T) {
	t.Parallel()
	params := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}
	str := func(s string) *string { return &s }
	yes := true
	video := interactions.NewCreateModelInteractionResponseFormat(interactions.NewResponseFormat(interactions.VideoResponseFormat{}))
	agentVideo := interactions.NewCreateAgentInteractionResponseFormat(interactions.NewResponseFormat(interactions.VideoResponseFormat{}))
	input := interactions.NewInteractionsInput("hello")
	tools := []interactions.Tool{
		interactions.NewTool(interactions.Function{Name: str("get_weather"), Description: str("Today's forecast."), Parameters: params}),
		interactions.NewTool(interactions.Function{Name: str("noop")}),
	}
	ours := []Function{{Name: "get_weather", Description: "Today's forecast.", Parameters: params}, {Name: "noop"}}
	tests := []struct {
		name  string
		req   InteractionRequest
		genai operations.CreateInteractionRequestBody
	}{
		{"model, everything", InteractionRequest{Model: "gemini-2.5-flash", Input: "hello", Tools: ours,
			ResponseFormat: map[string]any{"type": "video"}, PreviousInteractionID: "int_0", Background: true},
			operations.NewCreateInteractionRequestBody(interactions.CreateModelInteraction{Model: "gemini-2.5-flash", Input: &input, Tools: tools,
				ResponseFormat: &video, PreviousInteractionID: str("int_0"), Background: &yes})},
		{"model, input only", InteractionRequest{Model: "gemini-2.5-flash", Input: "hello"},
			operations.NewCreateInteractionRequestBody(interactions.CreateModelInteraction{Model: "gemini-2.5-flash", Input: &input})},
		{"agent", InteractionRequest{Agent: "deep-research-pro-preview-12-2025", Input: "hello", Tools: ours, ResponseFormat: map[string]any{"type": "video"}},
			operations.NewCreateInteractionRequestBody(interactions.CreateAgentInteraction{Agent: "deep-research-pro-preview-12-2025", Input: &input, Tools: tools, ResponseFormat: &agentVideo})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, f := setup(t, map[string]http.HandlerFunc{"POST /v1beta/interactions": reply(200, `{"id":"int_1","status":"in_progress"}`)})
			if _, err := c.Interactions.Create(t.Context(), tt.req, nil); err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(tt.genai)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(jsonValue(t, want), jsonValue(t, f.last(t).Body)); d != "" {
				t.Errorf("body (-genai +ours):\n%s", d)
			}
		})
	}
}

// TestInteractionFrom converts the resources genai decodes to the SDK's
// Interaction.
func TestInteractionFrom(t *testing.T) {
	t.Parallel()
	const videoURI = "https://x/download/v1beta/files/vid1:download?alt=media"
	tests := []struct {
		resource string
		want     *Interaction
	}{
		{`{"id":"int_1","status":"queued","model":"gemini-2.5-flash"}`, &Interaction{ID: "int_1", Status: "queued", Model: "gemini-2.5-flash"}},
		{`{"id":"int_2","status":"completed","agent":"deep-research-pro-preview-12-2025","previous_interaction_id":"int_1",
		   "created":"2026-01-22T12:00:00Z","updated":"2026-01-22T12:05:00.5Z",
		   "steps":[{"type":"model_output","content":[{"type":"text","text":"Sunny."}]}]}`,
			&Interaction{ID: "int_2", Status: "completed", Agent: "deep-research-pro-preview-12-2025", PreviousInteractionID: "int_1", OutputText: "Sunny.",
				Created: time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC), Updated: time.Date(2026, 1, 22, 12, 5, 0, 5e8, time.UTC)}},
		{`{"id":"int_3","status":"completed","updated":"not a time","steps":[{"type":"model_output","content":[{"type":"video","uri":"` + videoURI + `","mime_type":"video/mp4"}]}]}`,
			&Interaction{ID: "int_3", Status: "completed", OutputVideoURI: videoURI}},
		{`{"id":"int_4","status":"requires_action","model":"m","webhook_config":{"uris":["https://h.example/"],"user_metadata":{"k":"v"}},
		   "steps":[{"type":"function_call","id":"call_1","name":"get_weather","arguments":{"city":"Oslo"}}]}`,
			&Interaction{ID: "int_4", Status: "requires_action", Model: "m",
				Callback:      &Callback{URIs: []string{"https://h.example/"}, UserMetadata: map[string]any{"k": "v"}},
				FunctionCalls: []FunctionCall{{ID: "call_1", Name: "get_weather", Arguments: map[string]any{"city": "Oslo"}}}}},
		{`{"id":"int_5","status":"failed","errors":[{"code":"INTERNAL","message":"boom"}]}`,
			&Interaction{ID: "int_5", Status: "failed", ErrorCode: "INTERNAL", ErrorMessage: "boom"}},
		{`{"id":"int_6","status":"some_future_status"}`, &Interaction{ID: "int_6", Status: "some_future_status"}},
	}
	for _, tt := range tests {
		var it interactions.Interaction
		if err := json.Unmarshal([]byte(tt.resource), &it); err != nil {
			t.Fatalf("%s: %v", tt.resource, err)
		}
		if d := cmp.Diff(tt.want, interactionFrom(&it)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.resource, d)
		}
	}
}
