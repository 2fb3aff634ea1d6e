package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/geminihooks/geminihooks/event"
)

// emulatedVideo is a tiny MP4: an ftyp box and an empty mdat, enough for a
// handler to fetch and sniff it as video/mp4.
var emulatedVideo = []byte{
	0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 'm', 'p', '4', '2',
	0, 0, 0, 0x08, 'm', 'd', 'a', 't',
}

const videoFailureCode, videoFailureMessage = 13, "Video generation failed: emulated internal error."

func (s *Server) createVideo(w http.ResponseWriter, r *http.Request, model string) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	if e := rejectUnknown(body, "", "instances", "parameters", "webhook_config"); e != nil {
		return e
	}
	var instances []json.RawMessage
	if _, e := decodeField(body, "instances", &instances); e != nil {
		return e
	}
	if len(instances) == 0 {
		return errInvalid("Invalid value at 'instances': at least one instance is required.")
	}
	j := &job{Job: Job{
		Name: model + "/operations/" + randomString(12), Kind: kindVideo, Model: model, CreateTime: s.now(),
	}}
	if raw, ok := field(body, "webhook_config"); ok {
		// The reference records the camelCase rejection for batches only, so
		// the video endpoint accepts both spellings.
		cfg, e := s.parseWebhookConfig(raw, "webhook_config", false)
		if e != nil {
			return e
		}
		j.hook, j.WebhookURIs, j.UserMetadata = cfg, cfg.URIs, cfg.UserMetadata
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
	writeJSON(w, http.StatusOK, map[string]any{"name": j.Name})
	return nil
}

// finishVideoLocked stores a succeeded video and returns its event; a failed
// video has none (there is no video.failed). s.mu is held.
func (s *Server) finishVideoLocked(j *job) event.Data {
	if j.Outcome != outcomeSucceeded {
		return nil
	}
	j.fileID = "video" + j.Name[strings.LastIndex(j.Name, "/")+1:]
	s.files[j.fileID] = file{mimeType: "video/mp4", data: emulatedVideo, created: j.EndTime}
	uri := s.downloadURI(j.fileID)
	return &event.Video{
		ID: j.Name, OutputFileURI: uri, VideoURI: uri, FileName: "files/" + j.fileID, FileID: j.fileID,
	}
}

func (s *Server) getVideo(w http.ResponseWriter, name string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[name]
	if !ok || j.Kind != kindVideo {
		return errNotFound(fmt.Sprintf("Operation %q not found.", name))
	}
	op := map[string]any{"name": j.Name}
	if j.Done() {
		op["done"] = true
		switch j.Outcome {
		case outcomeSucceeded:
			op["response"] = map[string]any{
				"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
				"generateVideoResponse": map[string]any{
					"generatedSamples": []any{map[string]any{"video": map[string]any{"uri": s.downloadURI(j.fileID)}}},
				},
			}
		case outcomeFailed:
			op["error"] = map[string]any{"code": videoFailureCode, "message": videoFailureMessage}
		}
	}
	writeJSON(w, http.StatusOK, op)
	return nil
}
