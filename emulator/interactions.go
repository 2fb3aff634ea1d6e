package emulator

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/geminihooks/geminihooks/event"
)

// interactionStatus maps phases and outcomes to the Interaction status: a
// background interaction waits queued before it runs.
var interactionStatus = map[string]string{
	phasePending:                        "queued",
	phaseRunning:                        "in_progress",
	string(outcomeSucceeded):            "completed",
	string(outcomeFailed):               "failed",
	string(outcomeCancelled):            "cancelled",
	string(outcomeRequiresAction):       "requires_action",
	string(outcomeIncomplete):           "incomplete",
	string(outcomeBudgetExceeded):       "budget_exceeded",
	string(outcomeRequiresContinuation): "requires_continuation",
}

const interactionFailureCode, interactionFailureMessage = "INTERNAL", "Interaction failed: emulated internal error."

// The error a budget_exceeded interaction reports, in its errors and in the
// interaction.failed event it ends with. The API documents neither; see the
// README's compatibility table.
const budgetExceededCode, budgetExceededMessage = "BUDGET_EXCEEDED", "The interaction exceeded its budget."

// interaction is what an Interaction echoes back beyond the job itself.
type interaction struct {
	model, agent json.RawMessage // as sent
	background   bool
	webhookRaw   json.RawMessage // webhook_config, echoed as sent
	previousID   string
	function     string // the function a requires_action outcome calls
	callID       string
	continuation string // the continuation_token a requires_continuation outcome hands out
	video        bool   // response_format asks for a video
	fileID       string // the generated video, once succeeded
}

func (s *Server) routeInteractions(w http.ResponseWriter, r *http.Request, segs []string) *apiError {
	switch {
	case len(segs) == 0 && r.Method == http.MethodPost:
		return s.createInteraction(w, r)
	case len(segs) == 1 && r.Method == http.MethodGet:
		return s.getInteraction(w, segs[0])
	case len(segs) == 2 && segs[1] == "cancel" && r.Method == http.MethodPost:
		return s.cancelInteraction(w, segs[0])
	}
	return errMethodNotFound
}

func interactionNotFound(id string) *apiError {
	return errNotFound(fmt.Sprintf("Interaction %q not found.", id))
}

func (s *Server) createInteraction(w http.ResponseWriter, r *http.Request) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	it := &interaction{model: body["model"], agent: body["agent"]}
	if it.model == nil && it.agent == nil {
		return errInvalid("Invalid value: one of model and agent is required.")
	}
	var stream bool
	if _, e := decodeField(body, "stream", &stream); e != nil {
		return e
	}
	if stream {
		return errInvalid("The emulator does not stream interactions; leave stream unset.")
	}
	if _, e := decodeField(body, "background", &it.background); e != nil {
		return e
	}
	if _, e := decodeField(body, "previous_interaction_id", &it.previousID); e != nil {
		return e
	}
	var token string
	if _, e := decodeField(body, "continuation_token", &token); e != nil {
		return e
	}
	it.video = wantsVideo(body["response_format"])
	j := &job{Job: Job{Name: "v1_" + randomString(40), Kind: kindInteraction, CreateTime: s.now()}, interaction: it}
	var name string
	if it.model != nil {
		if json.Unmarshal(it.model, &name) == nil {
			j.Model = "models/" + strings.TrimPrefix(name, "models/")
		}
	} else if json.Unmarshal(it.agent, &name) == nil {
		j.Model = name
	}
	if raw, ok := body["webhook_config"]; ok && string(raw) != "null" {
		if !it.background {
			return errInvalid("webhook_config is only supported for background interactions; set background to true.")
		}
		cfg, e := s.parseWebhookConfig(raw, "webhook_config", false)
		if e != nil {
			return e
		}
		it.webhookRaw = raw
		j.hook, j.WebhookURIs, j.UserMetadata = cfg, cfg.URIs, cfg.UserMetadata
	}
	if e := s.checkContinuation(it, body["input"]); e != nil {
		return e
	}
	if e := s.checkContinuationToken(it, token); e != nil {
		return e
	}
	it.function = functionName(body["tools"])
	it.callID = "call_" + randomString(16)
	if e := s.chooseSigning(r, j); e != nil {
		return e
	}
	o, e := s.chooseOutcome(r, j.snapshot())
	if e != nil {
		return e
	}
	switch {
	case token != "":
		// A continuation hop finishes the decode, whatever the header
		// (a client continuing with the same header would loop).
		o = outcomeSucceeded
	case o == outcomeRequiresContinuation && it.background:
		return errInvalid(fmt.Sprintf("%s: requires_continuation applies to foreground interactions; the server continues background ones.", OutcomeHeader))
	case o == outcomeRequiresContinuation:
		it.continuation = "ct_" + randomString(24)
	}
	j.Outcome = o
	if !it.background {
		// A foreground interaction answers with its result, and sends no
		// webhook: events are for background work.
		j.done = make(chan struct{})
		j.updated = j.CreateTime
		s.mu.Lock()
		s.jobSeq++
		j.seq = s.jobSeq
		s.jobs[j.Name] = j
		j.hook = nil
		s.finishLocked(j, o)
		v := s.interactionView(j)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, v)
		return nil
	}
	s.addJob(j)
	s.mu.Lock()
	v := s.interactionView(j)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
	return nil
}

// checkContinuation validates a follow-up to an interaction that requires
// action: its input must carry a function_result for the pending call.
func (s *Server) checkContinuation(it *interaction, input json.RawMessage) *apiError {
	if it.previousID == "" {
		return nil
	}
	s.mu.Lock()
	prev, ok := s.jobs[it.previousID]
	var pending string
	if ok && prev.Kind == kindInteraction && prev.Phase == string(outcomeRequiresAction) {
		pending = prev.interaction.callID
	}
	s.mu.Unlock()
	if !ok || prev.Kind != kindInteraction {
		return interactionNotFound(it.previousID)
	}
	if pending == "" {
		return nil // a plain continuation of a finished conversation
	}
	var items []struct {
		Type   string `json:"type"`
		CallID string `json:"call_id"`
	}
	if json.Unmarshal(input, &items) == nil {
		for _, item := range items {
			if item.Type == "function_result" && item.CallID == pending {
				return nil
			}
		}
	}
	return errInvalid(fmt.Sprintf("Interaction %q requires a function_result for call %q in input.", it.previousID, pending))
}

// checkContinuationToken validates a continuation_token: it must be the one
// the previous interaction, stopped at requires_continuation, handed out.
func (s *Server) checkContinuationToken(it *interaction, token string) *apiError {
	if token == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.jobs[it.previousID]
	if it.previousID == "" || !ok || prev.Kind != kindInteraction || prev.interaction.continuation == "" ||
		subtle.ConstantTimeCompare([]byte(token), []byte(prev.interaction.continuation)) != 1 {
		return errInvalid("Invalid continuation_token: it must be the one the interaction named by previous_interaction_id returned.")
	}
	return nil
}

// wantsVideo reports whether a response_format (one format or a list)
// asks for a video.
func wantsVideo(raw json.RawMessage) bool {
	type format struct {
		Type string `json:"type"`
	}
	var one format
	if json.Unmarshal(raw, &one) == nil {
		return one.Type == "video"
	}
	var many []format
	if json.Unmarshal(raw, &many) == nil {
		for _, f := range many {
			if f.Type == "video" {
				return true
			}
		}
	}
	return false
}

// functionName is the first function tool's name, the call a
// requires_action outcome makes.
func functionName(tools json.RawMessage) string {
	var ts []struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if json.Unmarshal(tools, &ts) == nil {
		for _, t := range ts {
			if t.Type == "function" && t.Name != "" {
				return t.Name
			}
		}
	}
	return "emulator_function"
}

// finishInteractionLocked returns the event for an interaction's outcome.
// s.mu is held.
func (s *Server) finishInteractionLocked(j *job) event.Data {
	switch j.Outcome {
	case outcomeSucceeded:
		if j.interaction.video {
			// A video interaction's output is a generated file, and its
			// event the one every finished video sends.
			it := j.interaction
			it.fileID = "video" + strings.TrimPrefix(j.Name, "v1_")
			s.files[it.fileID] = file{mimeType: "video/mp4", data: emulatedVideo, created: j.EndTime}
			uri := s.downloadURI(it.fileID)
			return &event.Video{ID: j.Name, OutputFileURI: uri, VideoURI: uri, FileName: "files/" + it.fileID, FileID: it.fileID}
		}
		return &event.Interaction{Type: event.TypeInteractionCompleted, ID: j.Name}
	case outcomeIncomplete:
		// Ended, with what output there is: completed, not failed.
		return &event.Interaction{Type: event.TypeInteractionCompleted, ID: j.Name}
	case outcomeBudgetExceeded:
		return &event.Interaction{Type: event.TypeInteractionFailed, ID: j.Name, ErrorCode: budgetExceededCode, ErrorMessage: budgetExceededMessage}
	case outcomeFailed:
		return &event.Interaction{Type: event.TypeInteractionFailed, ID: j.Name, ErrorCode: interactionFailureCode, ErrorMessage: interactionFailureMessage}
	case outcomeCancelled:
		return &event.Interaction{Type: event.TypeInteractionCancelled, ID: j.Name}
	case outcomeRequiresAction:
		return &event.Interaction{Type: event.TypeInteractionRequiresAction, ID: j.Name}
	}
	return nil
}

// interactionView is the Interaction resource, snake_case. s.mu is held.
func (s *Server) interactionView(j *job) map[string]any {
	it := j.interaction
	v := map[string]any{
		"id":      j.Name,
		"status":  interactionStatus[j.Phase],
		"created": formatTime(j.CreateTime),
		"updated": formatTime(j.updated),
		"role":    "model",
	}
	if it.model != nil {
		v["model"] = it.model
	}
	if it.agent != nil {
		v["agent"] = it.agent
	}
	if it.webhookRaw != nil {
		v["webhook_config"] = it.webhookRaw
	}
	if it.previousID != "" {
		v["previous_interaction_id"] = it.previousID
	}
	switch Outcome(j.Phase) {
	case outcomeSucceeded, outcomeIncomplete, outcomeRequiresContinuation:
		content := map[string]any{"type": "text", "text": "Emulated response."}
		if it.fileID != "" {
			content = map[string]any{"type": "video", "uri": s.downloadURI(it.fileID), "mime_type": "video/mp4"}
		}
		v["steps"] = []any{map[string]any{"type": "model_output", "content": []any{content}}}
		v["usage"] = map[string]any{"total_input_tokens": 4, "total_output_tokens": 3, "total_tokens": 7}
		if it.continuation != "" {
			v["continuation_token"] = it.continuation
		}
	case outcomeBudgetExceeded:
		v["errors"] = []any{map[string]any{"code": budgetExceededCode, "message": budgetExceededMessage}}
	case outcomeRequiresAction:
		v["steps"] = []any{map[string]any{
			"type": "function_call", "id": it.callID, "name": it.function, "arguments": map[string]any{},
		}}
	case outcomeFailed:
		v["errors"] = []any{map[string]any{"code": interactionFailureCode, "message": interactionFailureMessage}}
	}
	return v
}

func (s *Server) getInteraction(w http.ResponseWriter, id string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok || j.Kind != kindInteraction {
		return interactionNotFound(id)
	}
	writeJSON(w, http.StatusOK, s.interactionView(j))
	return nil
}

func (s *Server) cancelInteraction(w http.ResponseWriter, id string) *apiError {
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok || j.Kind != kindInteraction {
		s.mu.Unlock()
		return interactionNotFound(id)
	}
	if !j.interaction.background || j.Done() {
		s.mu.Unlock()
		return errPrecondition(fmt.Sprintf("Interaction %q is not a running background interaction.", id))
	}
	s.stopLocked(j)
	publish := s.finishLocked(j, outcomeCancelled)
	v := s.interactionView(j)
	s.mu.Unlock()
	publish()
	writeJSON(w, http.StatusOK, v)
	return nil
}
