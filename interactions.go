package geminihooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
)

// InteractionsService creates background interactions whose progress is
// pushed to a callback, and answers the ones that require action. It speaks
// through genai's Interactions client, whose types stay behind this API.
type InteractionsService service

// InteractionRequest describes an interaction to create. For the API's
// other request fields, and for streaming, use genai's Interactions client.
type InteractionRequest struct {
	// Model names the model that runs the interaction, such as
	// "gemini-2.5-flash"; Agent names an agent instead, such as
	// "deep-research-pro-preview-12-2025". Set exactly one.
	Model string
	Agent string
	// Input is the text prompt.
	Input string
	// Tools are the functions the model may call. A call stops the
	// interaction with status "requires_action" until SubmitFunctionResults
	// answers it.
	Tools []Function
	// ResponseFormat is the API's response_format object, such as
	// {"type": "video"} for a video, which ends with video.generated as a
	// video from Videos.Generate does. Default nil: the model's own format.
	ResponseFormat map[string]any
	// PreviousInteractionID continues that interaction's conversation.
	PreviousInteractionID string
	// Background makes Create return as soon as the interaction is queued.
	// A callback implies it (the API requires it for webhook_config).
	// Default false: without a callback, Create waits for the answer.
	Background bool
}

// Function declares a function tool an interaction's model may call.
type Function struct {
	// Name is what the model calls the function by; required.
	Name        string
	Description string
	// Parameters is the JSON Schema of the call's arguments, such as
	// {"type": "object", "properties": {"city": {"type": "string"}}}.
	Parameters map[string]any
}

// Interaction is an interaction as the API reports it.
type Interaction struct {
	ID string
	// Status is "queued", "in_progress" or "requires_continuation" while
	// it runs; "requires_action" while it waits for the results of its
	// FunctionCalls; then "completed", "incomplete", "failed",
	// "budget_exceeded" or "cancelled". The API may add others.
	Status string
	// Model or Agent is what runs it.
	Model string
	Agent string
	// PreviousInteractionID is the interaction it continues, if any.
	PreviousInteractionID string
	// FunctionCalls are the calls of function tools it made, in order.
	FunctionCalls []FunctionCall
	// OutputText is the text of the model's last answer; OutputVideoURI is
	// where the last video it made is served (download it with the API
	// key). Both are empty when there is none.
	OutputText     string
	OutputVideoURI string
	// ErrorCode and ErrorMessage describe why it failed, when the API says.
	ErrorCode    string
	ErrorMessage string
	// Callback is the callback its events go to, as the API echoes it; nil
	// when they go to the registered webhooks.
	Callback *Callback
	// Created and Updated are zero when the API leaves them out.
	Created time.Time
	Updated time.Time
}

// FunctionCall is a call of a function tool that an interaction made and,
// once the caller fills in Result, its answer for SubmitFunctionResults.
type FunctionCall struct {
	// ID identifies the call; the answer repeats it.
	ID string
	// Name is the function's name. The answer sends it when it is set.
	Name string
	// Arguments are the call's arguments. The answer does not send them.
	Arguments map[string]any
	// Result is the function's result. A string is sent as text; any other
	// value is sent as its JSON encoding.
	Result any
	// IsError marks Result as the function's error.
	IsError bool
}

// Create creates an interaction, as genai's Interactions.Create does. With a
// callback cb the interaction runs in the background (background: true,
// which the API requires for webhook_config) and its events
// (interaction.completed, interaction.requires_action, ...) go to cb; the
// returned Interaction is then usually still in progress. With a nil cb
// they go to the registered webhooks.
func (s *InteractionsService) Create(ctx context.Context, req InteractionRequest, cb *Callback) (*Interaction, error) {
	body, err := req.body()
	if err != nil {
		return nil, err
	}
	return s.create(ctx, body, cb)
}

// Get returns the interaction with the given id.
func (s *InteractionsService) Get(ctx context.Context, id string) (*Interaction, error) {
	it, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return interactionFrom(it), nil
}

// SubmitFunctionResults answers an interaction that stopped with status
// "requires_action" (the interaction.requires_action event names it by ID):
// it creates the follow-up interaction, with previous_interaction_id set to
// id and the results as function_result input, in the background. Each
// result is one of the interaction's FunctionCalls with its Result set.
//
// The follow-up keeps the interaction's model or agent and tools, and its
// events go to cb; with a nil cb they go to the callback the interaction was
// created with, so a callback-driven loop keeps receiving events. When the
// interaction is not waiting for results (an earlier answer went out, say)
// the error matches ErrInvalidArgument; Get's Status tells it beforehand.
func (s *InteractionsService) SubmitFunctionResults(ctx context.Context, id string, results []FunctionCall, cb *Callback) (*Interaction, error) {
	steps, err := functionResultSteps(results)
	if err != nil {
		return nil, err
	}
	prev, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if prev.Status != interactions.InteractionStatusRequiresAction {
		return nil, fmt.Errorf("%w: interaction %s is %s, not waiting for function results", ErrInvalidArgument, id, prev.Status)
	}
	if err := matchCalls(prev, results); err != nil {
		return nil, err
	}
	if cb == nil {
		if prev.WebhookConfig == nil || len(prev.WebhookConfig.Uris) == 0 {
			return nil, fmt.Errorf("%w: interaction %s has no callback to carry over; pass one", ErrInvalidArgument, id)
		}
		cb = &Callback{URIs: prev.WebhookConfig.Uris, UserMetadata: prev.WebhookConfig.UserMetadata}
	}
	input := interactions.NewInteractionsInput(steps)
	prevID := id
	var body interactionBody
	switch {
	case prev.Model != nil:
		body.model = &interactions.CreateModelInteraction{
			Model:                 *prev.Model,
			PreviousInteractionID: &prevID,
			Input:                 &input,
			Tools:                 prev.Tools,
		}
	case prev.Agent != nil:
		body.agent = &interactions.CreateAgentInteraction{
			Agent:                 *prev.Agent,
			PreviousInteractionID: &prevID,
			Input:                 &input,
			Tools:                 prev.Tools,
		}
	default:
		return nil, fmt.Errorf("geminihooks: submit function results: interaction %s names neither a model nor an agent", id)
	}
	return s.create(ctx, body, cb)
}

// interactionBody is a create request in genai's form, for a model or for an
// agent.
type interactionBody struct {
	model *interactions.CreateModelInteraction
	agent *interactions.CreateAgentInteraction
}

// body converts the request to genai's form.
func (r *InteractionRequest) body() (interactionBody, error) {
	if (r.Model == "") == (r.Agent == "") {
		return interactionBody{}, errors.New("geminihooks: create interaction: set one of Model and Agent")
	}
	var input *interactions.InteractionsInput
	if r.Input != "" {
		in := interactions.NewInteractionsInput(r.Input)
		input = &in
	}
	var tools []interactions.Tool
	for i, f := range r.Tools {
		if f.Name == "" {
			return interactionBody{}, fmt.Errorf("geminihooks: create interaction: tool %d of %d has no name", i+1, len(r.Tools))
		}
		fn := interactions.Function{Name: &f.Name}
		if f.Description != "" {
			fn.Description = &f.Description
		}
		if f.Parameters != nil {
			fn.Parameters = f.Parameters
		}
		tools = append(tools, interactions.NewTool(fn))
	}
	var prev *string
	if r.PreviousInteractionID != "" {
		prev = &r.PreviousInteractionID
	}
	var background *bool
	if r.Background {
		background = &r.Background
	}
	if r.Model != "" {
		m := &interactions.CreateModelInteraction{Model: interactions.Model(r.Model), Input: input, Tools: tools, PreviousInteractionID: prev, Background: background}
		if r.ResponseFormat != nil {
			f := interactions.NewCreateModelInteractionResponseFormat(interactions.NewResponseFormat(r.ResponseFormat))
			m.ResponseFormat = &f
		}
		return interactionBody{model: m}, nil
	}
	a := &interactions.CreateAgentInteraction{Agent: interactions.AgentOption(r.Agent), Input: input, Tools: tools, PreviousInteractionID: prev, Background: background}
	if r.ResponseFormat != nil {
		f := interactions.NewCreateAgentInteractionResponseFormat(interactions.NewResponseFormat(r.ResponseFormat))
		a.ResponseFormat = &f
	}
	return interactionBody{agent: a}, nil
}

// setCallback sends wc, and background: true, which the API requires with
// a webhook_config.
func (b interactionBody) setCallback(wc *wireWebhookConfig) {
	cfg := &interactions.WebhookConfig{Uris: wc.URIs, UserMetadata: wc.UserMetadata}
	t := true
	if b.model != nil {
		b.model.WebhookConfig, b.model.Background = cfg, &t
		return
	}
	b.agent.WebhookConfig, b.agent.Background = cfg, &t
}

func (b interactionBody) wire() operations.CreateInteractionRequestBody {
	if b.model != nil {
		return operations.NewCreateInteractionRequestBody(*b.model)
	}
	return operations.NewCreateInteractionRequestBody(*b.agent)
}

// create sends body with the callback cb, and records the interaction (see
// Config.Tracker) when an event is to come.
func (s *InteractionsService) create(ctx context.Context, body interactionBody, cb *Callback) (*Interaction, error) {
	var it *interactions.Interaction
	err := s.client.launch(ctx, interactionJob, nil, cb, func(wc *wireWebhookConfig) (string, error) {
		if wc != nil {
			body.setCallback(wc)
		}
		res, err := s.client.gc.Interactions.Create(ctx, operations.CreateInteractionRequest{APIVersion: &s.client.apiVersion, Body: body.wire()})
		if err != nil {
			return "", s.client.convertError("create interaction", err)
		}
		if res == nil || res.Interaction == nil {
			return "", errors.New("geminihooks: create interaction: the answer carried no interaction")
		}
		it = res.Interaction
		s.client.logger.DebugContext(ctx, "geminihooks: interaction created", "id", deref(it.ID), "status", string(it.Status))
		// Without a callback only a background interaction, still queued or
		// in progress when created, has an event to come.
		if wc == nil && !pending(it.Status) {
			return "", nil
		}
		return deref(it.ID), nil
	})
	if err != nil {
		return nil, err
	}
	return interactionFrom(it), nil
}

// pending reports whether an interaction with status st has not ended yet:
// it is queued or running, or (background interactions only) waiting for
// the server to continue it.
func pending(st interactions.InteractionStatus) bool {
	switch st {
	case interactions.InteractionStatusQueued, interactions.InteractionStatusInProgress, interactions.InteractionStatusRequiresContinuation:
		return true
	}
	return false
}

func (s *InteractionsService) get(ctx context.Context, id string) (*interactions.Interaction, error) {
	if id == "" {
		return nil, errors.New("geminihooks: get interaction: empty interaction id")
	}
	got, err := s.client.gc.Interactions.Get(ctx, operations.GetInteractionByIDRequest{APIVersion: &s.client.apiVersion, ID: id})
	if err != nil {
		return nil, s.client.convertError("get interaction", err)
	}
	if got == nil || got.Interaction == nil {
		return nil, errors.New("geminihooks: get interaction: the answer carried no interaction")
	}
	return got.Interaction, nil
}

// interactionFrom converts genai's interaction, whose Output fields genai
// derived from its steps when it decoded it.
func interactionFrom(it *interactions.Interaction) *Interaction {
	out := &Interaction{
		ID:                    deref(it.ID),
		Status:                string(it.Status),
		PreviousInteractionID: deref(it.PreviousInteractionID),
		OutputText:            deref(it.OutputText),
		Created:               parseTime(deref(it.Created)),
		Updated:               parseTime(deref(it.Updated)),
	}
	if it.Model != nil {
		out.Model = string(*it.Model)
	}
	if it.Agent != nil {
		out.Agent = string(*it.Agent)
	}
	if v := it.OutputVideo; v != nil {
		out.OutputVideoURI = deref(v.URI)
	}
	if len(it.Errors) > 0 {
		out.ErrorCode, out.ErrorMessage = deref(it.Errors[0].Code), deref(it.Errors[0].Message)
	}
	if w := it.WebhookConfig; w != nil && len(w.Uris) > 0 {
		out.Callback = &Callback{URIs: w.Uris, UserMetadata: w.UserMetadata}
	}
	for _, st := range it.Steps {
		if c := st.FunctionCallStep; c != nil {
			out.FunctionCalls = append(out.FunctionCalls, FunctionCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments})
		}
	}
	return out
}

// parseTime reads an RFC 3339 time, and anything else as the zero time: the
// times are informative, never required.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func functionResultSteps(results []FunctionCall) ([]interactions.Step, error) {
	if len(results) == 0 {
		return nil, errors.New("geminihooks: submit function results: no results")
	}
	seen := make(map[string]bool, len(results))
	steps := make([]interactions.Step, 0, len(results))
	for i, r := range results {
		if r.ID == "" {
			return nil, fmt.Errorf("geminihooks: submit function results: result %d of %d has no call id", i+1, len(results))
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("geminihooks: submit function results: call %q answered twice", r.ID)
		}
		seen[r.ID] = true
		step := interactions.FunctionResultStep{CallID: r.ID}
		if r.Name != "" {
			step.Name = &r.Name
		}
		if r.IsError {
			t := true
			step.IsError = &t
		}
		if v, ok := r.Result.(string); ok {
			step.Result = interactions.NewFunctionResultStepResultUnion(v)
		} else {
			raw, err := json.Marshal(r.Result)
			if err != nil {
				return nil, fmt.Errorf("geminihooks: submit function results: result for call %q does not encode as JSON: %w", r.ID, err)
			}
			step.Result = interactions.NewFunctionResultStepResultUnionUnknown(raw)
		}
		steps = append(steps, interactions.NewStep(step))
	}
	return steps, nil
}

// matchCalls checks that every result answers a function call the
// interaction made, when the interaction lists its calls.
func matchCalls(prev *interactions.Interaction, results []FunctionCall) error {
	calls := map[string]bool{}
	for _, st := range prev.Steps {
		if st.FunctionCallStep != nil {
			calls[st.FunctionCallStep.ID] = true
		}
	}
	if len(calls) == 0 {
		return nil
	}
	for _, r := range results {
		if !calls[r.ID] {
			return fmt.Errorf("geminihooks: submit function results: interaction %s made no call %q", deref(prev.ID), r.ID)
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
