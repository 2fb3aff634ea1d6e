package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/geminihooks/geminihooks/event"
)

// batchRequest is one request of a batch; only its key survives into the
// results.
type batchRequest struct{ key string }

// batchStates maps phases and outcomes to the REST surface's enum.
var batchStates = map[string]string{
	phasePending:             "BATCH_STATE_PENDING",
	phaseRunning:             "BATCH_STATE_RUNNING",
	string(outcomeSucceeded): "BATCH_STATE_SUCCEEDED",
	string(outcomeFailed):    "BATCH_STATE_FAILED",
	string(outcomeExpired):   "BATCH_STATE_EXPIRED",
	string(outcomeCancelled): "BATCH_STATE_CANCELLED",
}

const batchFailureCode, batchFailureMessage = 13, "Batch failed: emulated internal error."

func (s *Server) routeBatches(w http.ResponseWriter, r *http.Request, segs []string) *apiError {
	if len(segs) == 0 {
		if r.Method == http.MethodGet {
			return s.listBatches(w, r)
		}
		return errMethodNotFound
	}
	if len(segs) != 1 {
		return errMethodNotFound
	}
	id, verb, _ := strings.Cut(segs[0], ":")
	name := "batches/" + id
	switch {
	case verb == "" && r.Method == http.MethodGet:
		return s.getBatch(w, name)
	case verb == "" && r.Method == http.MethodDelete:
		return s.deleteBatch(w, name)
	case verb == "cancel" && r.Method == http.MethodPost:
		return s.cancelBatch(w, name)
	}
	return errMethodNotFound
}

func (s *Server) routeModels(w http.ResponseWriter, r *http.Request, segs []string) *apiError {
	switch {
	case len(segs) == 1 && r.Method == http.MethodPost:
		model, verb, _ := strings.Cut(segs[0], ":")
		switch verb {
		case "batchGenerateContent":
			return s.createBatch(w, r, "models/"+model)
		case "predictLongRunning":
			return s.createVideo(w, r, "models/"+model)
		}
	case len(segs) == 3 && segs[1] == "operations" && r.Method == http.MethodGet:
		return s.getVideo(w, "models/"+segs[0]+"/operations/"+segs[2])
	}
	return errMethodNotFound
}

func batchNotFound(name string) *apiError {
	return errNotFound(fmt.Sprintf("Batch %q not found.", name))
}

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request, model string) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	if e := rejectUnknown(body, "", "batch"); e != nil {
		return e
	}
	raw, ok := field(body, "batch")
	if !ok {
		return errInvalid("Invalid value at 'batch': a batch is required.")
	}
	batch, e := parseObject(raw)
	if e != nil {
		return e
	}
	if e := rejectUnknown(batch, "batch", "model", "display_name", "input_config", "webhook_config", "priority"); e != nil {
		return e
	}
	j := &job{Job: Job{Name: "batches/" + randomString(24), Kind: kindBatch, Model: model, CreateTime: s.now()}}
	if _, e := decodeField(batch, "display_name", &j.DisplayName); e != nil {
		return e
	}
	if raw, ok := field(batch, "webhook_config"); ok {
		cfg, e := s.parseWebhookConfig(raw, "batch.webhook_config", true)
		if e != nil {
			return e
		}
		j.hook, j.WebhookURIs, j.UserMetadata = cfg, cfg.URIs, cfg.UserMetadata
	}
	if e := parseBatchInput(batch, j); e != nil {
		return e
	}
	if e := s.chooseSigning(r, j); e != nil {
		return e
	}
	o, e := s.chooseOutcome(r, j.snapshot())
	if e != nil {
		return e
	}
	j.Outcome = o
	s.addJob(j)
	s.mu.Lock()
	v := s.batchView(j)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
	return nil
}

func parseBatchInput(batch map[string]json.RawMessage, j *job) *apiError {
	raw, ok := field(batch, "input_config")
	if !ok {
		return errInvalid("Invalid value at 'batch.input_config': an input config is required.")
	}
	in, e := parseObject(raw)
	if e != nil {
		return e
	}
	if e := rejectUnknown(in, "batch.input_config", "requests", "file_name"); e != nil {
		return e
	}
	var fileName string
	if _, e := decodeField(in, "file_name", &fileName); e != nil {
		return e
	}
	var reqs struct {
		Requests []struct {
			Request  json.RawMessage `json:"request"`
			Metadata struct {
				Key string `json:"key"`
			} `json:"metadata"`
		} `json:"requests"`
	}
	hasReqs, e := decodeField(in, "requests", &reqs)
	if e != nil {
		return e
	}
	switch {
	case hasReqs == (fileName != ""):
		return errInvalid("Invalid value at 'batch.input_config': exactly one of requests and file_name must be set.")
	case fileName != "":
		j.requests = []batchRequest{{key: "request-1"}}
	case len(reqs.Requests) == 0:
		return errInvalid("Invalid value at 'batch.input_config.requests': at least one request is required.")
	default:
		j.inlined = true
		for i, rq := range reqs.Requests {
			key := rq.Metadata.Key
			if key == "" {
				key = fmt.Sprintf("request-%d", i+1)
			}
			j.requests = append(j.requests, batchRequest{key: key})
		}
	}
	return nil
}

// emulatedResponse is a GenerateContentResponse for the i-th request.
func emulatedResponse(model string, i int) map[string]any {
	return map[string]any{
		"candidates": []any{map[string]any{
			"content": map[string]any{
				"role":  "model",
				"parts": []any{map[string]any{"text": fmt.Sprintf("Emulated response %d.", i+1)}},
			},
			"finishReason": "STOP",
			"index":        0,
		}},
		"modelVersion": strings.TrimPrefix(model, "models/"),
	}
}

// finishBatchLocked writes a succeeded batch's results and returns the
// event for the outcome. s.mu is held.
func (s *Server) finishBatchLocked(j *job) event.Data {
	switch j.Outcome {
	case outcomeSucceeded:
		var buf bytes.Buffer
		for i, rq := range j.requests {
			line, _ := json.Marshal(map[string]any{"key": rq.key, "response": emulatedResponse(j.Model, i)})
			buf.Write(line)
			buf.WriteByte('\n')
		}
		// File IDs are [a-z0-9] only, as the real ones are: genai cuts a
		// download URI's file name at the first other character.
		j.fileID = "batch" + strings.TrimPrefix(j.Name, "batches/")
		s.files[j.fileID] = file{mimeType: "application/jsonl", data: buf.Bytes(), created: j.EndTime}
		return &event.Batch{Type: event.TypeBatchSucceeded, ID: j.Name, OutputFileURI: s.downloadURI(j.fileID)}
	case outcomeFailed:
		return &event.Batch{Type: event.TypeBatchFailed, ID: j.Name, ErrorCode: itoa(batchFailureCode), ErrorMessage: batchFailureMessage}
	case outcomeExpired:
		return &event.Batch{Type: event.TypeBatchExpired, ID: j.Name}
	case outcomeCancelled:
		return &event.Batch{Type: event.TypeBatchCancelled, ID: j.Name}
	}
	return nil
}

// batchView is the operation-shaped batch the REST surface returns (the
// generativelanguage camelCase, unlike WebhookService). s.mu is held.
func (s *Server) batchView(j *job) map[string]any {
	meta := map[string]any{
		"@type":       "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
		"name":        j.Name,
		"model":       j.Model,
		"state":       batchStates[j.Phase],
		"createTime":  formatTime(j.CreateTime),
		"updateTime":  formatTime(j.updated),
		"batchStats":  map[string]any{"requestCount": itoa(len(j.requests))},
		"displayName": j.DisplayName,
	}
	op := map[string]any{"name": j.Name, "metadata": meta}
	if !j.Done() {
		return op
	}
	meta["endTime"] = formatTime(j.EndTime)
	op["done"] = true
	switch j.Outcome {
	case outcomeSucceeded:
		out := map[string]any{}
		if j.inlined {
			var rs []any
			for i, rq := range j.requests {
				rs = append(rs, map[string]any{"response": emulatedResponse(j.Model, i), "metadata": map[string]any{"key": rq.key}})
			}
			out["inlinedResponses"] = map[string]any{"inlinedResponses": rs}
		} else {
			out["responsesFile"] = "files/" + j.fileID
		}
		meta["output"] = out
		meta["batchStats"] = map[string]any{"requestCount": itoa(len(j.requests)), "successfulRequestCount": itoa(len(j.requests))}
		resp := map[string]any{"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"}
		for k, v := range out {
			resp[k] = v
		}
		op["response"] = resp
	case outcomeFailed:
		op["error"] = map[string]any{"code": batchFailureCode, "message": batchFailureMessage}
	}
	return op
}

func (s *Server) getBatch(w http.ResponseWriter, name string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[name]
	if !ok || j.Kind != kindBatch {
		return batchNotFound(name)
	}
	writeJSON(w, http.StatusOK, s.batchView(j))
	return nil
}

func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) *apiError {
	size, start, e := pageParams(r)
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if start > len(s.batchList) {
		return errInvalid("Invalid page_token.")
	}
	end := min(start+size, len(s.batchList))
	ops := []any{}
	for _, name := range s.batchList[start:end] {
		ops = append(ops, s.batchView(s.jobs[name]))
	}
	out := map[string]any{"operations": ops}
	if end < len(s.batchList) {
		out["nextPageToken"] = pageToken(end)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) cancelBatch(w http.ResponseWriter, name string) *apiError {
	s.mu.Lock()
	j, ok := s.jobs[name]
	if !ok || j.Kind != kindBatch {
		s.mu.Unlock()
		return batchNotFound(name)
	}
	if j.Done() {
		s.mu.Unlock()
		return errPrecondition(fmt.Sprintf("Batch %q is already in a terminal state.", name))
	}
	s.stopLocked(j)
	publish := s.finishLocked(j, outcomeCancelled)
	s.mu.Unlock()
	publish()
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) deleteBatch(w http.ResponseWriter, name string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[name]
	if !ok || j.Kind != kindBatch {
		return batchNotFound(name)
	}
	s.stopLocked(j)
	delete(s.jobs, name)
	for i, n := range s.batchList {
		if n == name {
			s.batchList = append(s.batchList[:i:i], s.batchList[i+1:]...)
			break
		}
	}
	if !j.Done() {
		close(j.done) // release waiters; a deleted batch never finishes
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
