package reconcile

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai/interactions/models/interactions"

	"github.com/geminihooks/geminihooks/event"
)

// TestInteractionState maps every status genai knows to the event, if any,
// a reconciler synthesizes.
func TestInteractionState(t *testing.T) {
	t.Parallel()
	const id = "v1_abc"
	const video = `{"type":"model_output","content":[{"type":"video","uri":"https://x/download/v1beta/files/vid1:download?alt=media","mime_type":"video/mp4"}]}`
	tests := []struct {
		resource string
		done     bool
		want     event.Data
	}{
		{`{"status":"queued"}`, false, nil},
		{`{"status":"in_progress"}`, false, nil},
		{`{"status":"requires_continuation","continuation_token":"ct_1"}`, false, nil},
		{`{"status":"completed"}`, true, &event.Interaction{Type: event.TypeInteractionCompleted, ID: id}},
		{`{"status":"completed","steps":[` + video + `]}`, true, &event.Video{ID: id,
			OutputFileURI: "https://x/download/v1beta/files/vid1:download?alt=media", VideoURI: "https://x/download/v1beta/files/vid1:download?alt=media",
			FileID: "vid1", FileName: "files/vid1"}},
		{`{"status":"incomplete"}`, true, &event.Interaction{Type: event.TypeInteractionCompleted, ID: id}},
		{`{"status":"requires_action"}`, true, &event.Interaction{Type: event.TypeInteractionRequiresAction, ID: id}},
		{`{"status":"cancelled"}`, true, &event.Interaction{Type: event.TypeInteractionCancelled, ID: id}},
		{`{"status":"failed","errors":[{"code":"INTERNAL","message":"boom"}]}`, true, &event.Interaction{Type: event.TypeInteractionFailed, ID: id, ErrorCode: "INTERNAL", ErrorMessage: "boom"}},
		{`{"status":"budget_exceeded"}`, true, &event.Interaction{Type: event.TypeInteractionFailed, ID: id, ErrorCode: "BUDGET_EXCEEDED"}},
		{`{"status":"some_future_status"}`, false, nil},
	}
	for _, tt := range tests {
		var it interactions.Interaction
		if err := json.Unmarshal([]byte(tt.resource), &it); err != nil {
			t.Fatalf("%s: %v", tt.resource, err)
		}
		st := interactionState(id, &it)
		if st.Done != tt.done {
			t.Errorf("%s: done %t; want %t", tt.resource, st.Done, tt.done)
		}
		if d := cmp.Diff(tt.want, st.Event); d != "" {
			t.Errorf("%s: event (-want +got):\n%s", tt.resource, d)
		}
	}
}
