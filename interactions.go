package geminihooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"

	"github.com/geminihooks/geminihooks/ledger"
)

// InteractionsService creates background interactions whose progress is
// pushed to a callback, and answers the ones that require action.
type InteractionsService service

// ErrNotRequiringAction is returned by SubmitFunctionResults when the
// interaction is not waiting for function results.
var ErrNotRequiringAction = errors.New("geminihooks: interaction does not require action")

// Create creates a model interaction, like genai's Interactions.Create, and
// returns genai's Interaction. With a callback (cb, or a WebhookConfig already
// in req) the interaction runs in the background (background: true, which the
// API requires for webhook_config) and its events (interaction.completed,
// interaction.requires_action, ...) go to the callback; the returned
// Interaction is then usually still in progress.
//
// req is a value and is not modified. Streaming is not supported here: use
// genai directly for req.Stream.
func (s *InteractionsService) Create(ctx context.Context, req interactions.CreateModelInteraction, cb *Callback) (*interactions.Interaction, error) {
	if req.Stream != nil && *req.Stream {
		return nil, errStreaming
	}
	wc, background, err := s.callbackFields(req.WebhookConfig, req.Background, cb)
	if err != nil {
		return nil, err
	}
	req.WebhookConfig, req.Background = wc, background
	return s.create(ctx, operations.NewCreateInteractionRequestBody(req), wc)
}

// CreateAgent is Create for an agent interaction.
func (s *InteractionsService) CreateAgent(ctx context.Context, req interactions.CreateAgentInteraction, cb *Callback) (*interactions.Interaction, error) {
	if req.Stream != nil && *req.Stream {
		return nil, errStreaming
	}
	wc, background, err := s.callbackFields(req.WebhookConfig, req.Background, cb)
	if err != nil {
		return nil, err
	}
	req.WebhookConfig, req.Background = wc, background
	return s.create(ctx, operations.NewCreateInteractionRequestBody(req), wc)
}

var errStreaming = errors.New("geminihooks: streaming interactions are not supported; use genai's Interactions.Create")

// callbackFields validates the callback (cb, or the request's own webhook
// config) and returns the webhook_config and background fields to send.
func (s *InteractionsService) callbackFields(own *interactions.WebhookConfig, background *bool, cb *Callback) (*interactions.WebhookConfig, *bool, error) {
	if own != nil {
		if cb != nil {
			return nil, nil, errTwoCallbacks
		}
		cb = &Callback{URIs: own.Uris, UserMetadata: own.UserMetadata}
	}
	if cb == nil {
		return nil, background, nil
	}
	if background != nil && !*background {
		return nil, nil, fmt.Errorf("%w: a callback needs a background interaction, and the request sets background to false", ErrInvalidCallback)
	}
	w, err := s.client.prepare(cb)
	if err != nil {
		return nil, nil, err
	}
	t := true
	return &interactions.WebhookConfig{Uris: w.URIs, UserMetadata: w.UserMetadata}, &t, nil
}

// create sends body; wc is its webhook_config, and a job with one is
// tracked (see WithTracker).
func (s *InteractionsService) create(ctx context.Context, body operations.CreateInteractionRequestBody, wc *interactions.WebhookConfig) (*interactions.Interaction, error) {
	res, err := s.client.gc.Interactions.Create(ctx, operations.CreateInteractionRequest{APIVersion: &s.client.apiVersion, Body: body})
	if err != nil {
		return nil, s.client.convertError("create interaction", err)
	}
	if res == nil || res.Interaction == nil {
		return nil, errors.New("geminihooks: create interaction: the answer carried no interaction")
	}
	var meta map[string]any
	if wc != nil {
		meta = wc.UserMetadata
	}
	// Without a callback only a background interaction, still queued or in
	// progress when created, has an event to come.
	if wc != nil || pending(res.Interaction.Status) {
		s.client.track(ctx, ledger.KindInteraction, deref(res.Interaction.ID), wc != nil, meta)
	}
	s.client.logger.DebugContext(ctx, "geminihooks: interaction created", "id", deref(res.Interaction.ID), "status", string(res.Interaction.Status))
	return res.Interaction, nil
}

// FunctionResult answers one function call of an interaction that requires
// action.
type FunctionResult struct {
	// CallID is the ID of the function call step being answered.
	CallID string
	// Name is the function's name; optional.
	Name string
	// Result is the function's result. A string is sent as text; any other
	// value is sent as its JSON encoding.
	Result any
	// IsError marks Result as the function's error.
	IsError bool
}

// FunctionCall is a function call an interaction waits on.
type FunctionCall struct {
	// ID is what FunctionResult.CallID must repeat.
	ID        string
	Name      string
	Arguments map[string]any
}

// FunctionCalls returns the function calls of interaction id, typically on
// receiving its interaction.requires_action event, so they can be run and
// answered with SubmitFunctionResults.
func (s *InteractionsService) FunctionCalls(ctx context.Context, id string) ([]FunctionCall, error) {
	it, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	var calls []FunctionCall
	for _, st := range it.Steps {
		if c := st.FunctionCallStep; c != nil {
			calls = append(calls, FunctionCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments})
		}
	}
	return calls, nil
}

// Get returns the interaction with the given id.
func (s *InteractionsService) Get(ctx context.Context, id string) (*interactions.Interaction, error) {
	return s.get(ctx, id)
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

// SubmitFunctionResults answers an interaction that stopped with status
// requires_action (the interaction.requires_action event names it by ID): it
// creates the follow-up interaction, with previous_interaction_id set to id
// and the results as function_result input, in the background.
//
// The follow-up keeps the interaction's model or agent and tools, and its
// events go to cb; with a nil cb they go to the callback the interaction was
// created with (its echoed webhook_config), so a callback-driven loop keeps
// receiving events. It fails with ErrNotRequiringAction when the interaction
// is not waiting for results.
func (s *InteractionsService) SubmitFunctionResults(ctx context.Context, id string, results []FunctionResult, cb *Callback) (*interactions.Interaction, error) {
	steps, err := functionResultSteps(results)
	if err != nil {
		return nil, err
	}
	prev, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if prev.Status != interactions.InteractionStatusRequiresAction {
		return nil, fmt.Errorf("%w: interaction %s is %s", ErrNotRequiringAction, id, prev.Status)
	}
	if err := matchCalls(prev, results); err != nil {
		return nil, err
	}
	if cb == nil {
		if prev.WebhookConfig == nil || len(prev.WebhookConfig.Uris) == 0 {
			return nil, fmt.Errorf("%w: interaction %s has no callback to carry over; pass one", ErrInvalidCallback, id)
		}
		cb = &Callback{URIs: prev.WebhookConfig.Uris, UserMetadata: prev.WebhookConfig.UserMetadata}
	}
	input := interactions.NewInteractionsInput(steps)
	prevID := id
	switch {
	case prev.Model != nil:
		return s.Create(ctx, interactions.CreateModelInteraction{
			Model:                 *prev.Model,
			PreviousInteractionID: &prevID,
			Input:                 &input,
			Tools:                 prev.Tools,
		}, cb)
	case prev.Agent != nil:
		return s.CreateAgent(ctx, interactions.CreateAgentInteraction{
			Agent:                 *prev.Agent,
			PreviousInteractionID: &prevID,
			Input:                 &input,
			Tools:                 prev.Tools,
		}, cb)
	}
	return nil, fmt.Errorf("geminihooks: submit function results: interaction %s names neither a model nor an agent", id)
}

func functionResultSteps(results []FunctionResult) ([]interactions.Step, error) {
	if len(results) == 0 {
		return nil, errors.New("geminihooks: submit function results: no results")
	}
	seen := make(map[string]bool, len(results))
	steps := make([]interactions.Step, 0, len(results))
	for i, r := range results {
		if r.CallID == "" {
			return nil, fmt.Errorf("geminihooks: submit function results: result %d of %d has no call id", i+1, len(results))
		}
		if seen[r.CallID] {
			return nil, fmt.Errorf("geminihooks: submit function results: call %q answered twice", r.CallID)
		}
		seen[r.CallID] = true
		step := interactions.FunctionResultStep{CallID: r.CallID}
		if r.Name != "" {
			step.Name = &r.Name
		}
		if r.IsError {
			t := true
			step.IsError = &t
		}
		switch v := r.Result.(type) {
		case string:
			step.Result = interactions.NewFunctionResultStepResultUnion(v)
		case []interactions.FunctionResultSubcontent:
			step.Result = interactions.NewFunctionResultStepResultUnion(v)
		default:
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("geminihooks: submit function results: result for call %q does not encode as JSON: %w", r.CallID, err)
			}
			step.Result = interactions.NewFunctionResultStepResultUnionUnknown(raw)
		}
		steps = append(steps, interactions.NewStep(step))
	}
	return steps, nil
}

// matchCalls checks that every result answers a function call the
// interaction made, when the interaction lists its calls.
func matchCalls(prev *interactions.Interaction, results []FunctionResult) error {
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
		if !calls[r.CallID] {
			return fmt.Errorf("geminihooks: submit function results: interaction %s made no call %q", deref(prev.ID), r.CallID)
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
