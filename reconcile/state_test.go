package reconcile

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/event"
)

// TestInteractionState maps every status the API documents to the event,
// if any, a reconciler synthesizes. (The root package's TestInteractionFrom
// checks how genai's resources become these Interactions.)
func TestInteractionState(t *testing.T) {
	t.Parallel()
	const id = "v1_abc"
	const video = "https://x/download/v1beta/files/vid1:download?alt=media"
	ended := time.Date(2026, 1, 22, 12, 5, 0, 0, time.UTC)
	tests := []struct {
		it   geminihooks.Interaction
		done bool
		want event.Data
	}{
		{geminihooks.Interaction{Status: "queued"}, false, nil},
		{geminihooks.Interaction{Status: "in_progress"}, false, nil},
		{geminihooks.Interaction{Status: "requires_continuation"}, false, nil},
		{geminihooks.Interaction{Status: "completed"}, true, &event.Interaction{Type: event.TypeInteractionCompleted, ID: id}},
		{geminihooks.Interaction{Status: "completed", OutputVideoURI: video}, true, &event.Video{ID: id,
			OutputFileURI: video, VideoURI: video, FileID: "vid1", FileName: "files/vid1"}},
		{geminihooks.Interaction{Status: "incomplete"}, true, &event.Interaction{Type: event.TypeInteractionCompleted, ID: id}},
		{geminihooks.Interaction{Status: "requires_action"}, true, &event.Interaction{Type: event.TypeInteractionRequiresAction, ID: id}},
		{geminihooks.Interaction{Status: "cancelled"}, true, &event.Interaction{Type: event.TypeInteractionCancelled, ID: id}},
		{geminihooks.Interaction{Status: "failed", ErrorCode: "INTERNAL", ErrorMessage: "boom"}, true, &event.Interaction{Type: event.TypeInteractionFailed, ID: id, ErrorCode: "INTERNAL", ErrorMessage: "boom"}},
		{geminihooks.Interaction{Status: "budget_exceeded"}, true, &event.Interaction{Type: event.TypeInteractionFailed, ID: id, ErrorCode: "BUDGET_EXCEEDED"}},
		{geminihooks.Interaction{Status: "some_future_status"}, false, nil},
	}
	for _, tt := range tests {
		tt.it.Updated = ended
		st := interactionState(id, &tt.it)
		if st.Done != tt.done {
			t.Errorf("%s: done %t; want %t", tt.it.Status, st.Done, tt.done)
		}
		if d := cmp.Diff(tt.want, st.Event); d != "" {
			t.Errorf("%s: event (-want +got):\n%s", tt.it.Status, d)
		}
		if st.Done && !st.EndedAt.Equal(ended) {
			t.Errorf("%s: ended at %v; want the update time %v", tt.it.Status, st.EndedAt, ended)
		}
	}
}
