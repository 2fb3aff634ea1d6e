package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/ledger"
)

// state is what a job's real state says about its event.
type state struct {
	// Done reports that the job has ended.
	Done bool
	// EndedAt is when the API says it ended; zero when it does not say.
	EndedAt time.Time
	// Event is the data its completion event carries, or nil when the end
	// has no event (a failed video).
	Event event.Data
}

// jobState reads j's state through the client.
func (r *Reconciler) jobState(ctx context.Context, j *ledger.Job) (*state, error) {
	switch j.Kind {
	case ledger.KindBatch:
		job, err := r.client.Batches.Get(ctx, j.Name)
		if err != nil {
			return nil, err
		}
		return r.batchState(j.Name, job), nil
	case ledger.KindVideo:
		op, err := r.client.Videos.Get(ctx, j.Name)
		if err != nil {
			return nil, err
		}
		return videoState(j.Name, op), nil
	case ledger.KindInteraction:
		it, err := r.client.Interactions.Get(ctx, j.Name)
		if err != nil {
			return nil, err
		}
		return interactionState(j.Name, it), nil
	}
	return nil, fmt.Errorf("reconcile: job %s has unknown kind %q", j.Name, j.Kind)
}

func (r *Reconciler) batchState(name string, job *genai.BatchJob) *state {
	st := &state{Done: true, EndedAt: job.EndTime}
	if st.EndedAt.IsZero() {
		st.EndedAt = job.UpdateTime
	}
	switch job.State {
	case genai.JobStateSucceeded:
		d := &event.Batch{Type: event.TypeBatchSucceeded, ID: name}
		// Inlined responses have no file; the handler reads them with
		// Batches.Get, as it would after a delivered event.
		if job.Dest != nil && job.Dest.FileName != "" {
			d.OutputFileURI = r.client.DownloadURI(job.Dest.FileName)
		}
		st.Event = d
	case genai.JobStateFailed:
		d := &event.Batch{Type: event.TypeBatchFailed, ID: name}
		if e := job.Error; e != nil {
			d.ErrorMessage = e.Message
			if e.Code != nil {
				d.ErrorCode = strconv.Itoa(int(*e.Code))
			}
		}
		st.Event = d
	case genai.JobStateExpired:
		st.Event = &event.Batch{Type: event.TypeBatchExpired, ID: name}
	case genai.JobStateCancelled:
		st.Event = &event.Batch{Type: event.TypeBatchCancelled, ID: name}
	default:
		return &state{}
	}
	return st
}

func videoState(name string, op *genai.GenerateVideosOperation) *state {
	if !op.Done {
		return &state{}
	}
	st := &state{Done: true}
	if op.Error != nil || op.Response == nil {
		return st // there is no video.failed
	}
	d := &event.Video{ID: name}
	for _, v := range op.Response.GeneratedVideos {
		if v != nil && v.Video != nil && v.Video.URI != "" {
			d.OutputFileURI, d.VideoURI = v.Video.URI, v.Video.URI
			d.FileID = fileID(v.Video.URI)
			if d.FileID != "" {
				d.FileName = "files/" + d.FileID
			}
			break
		}
	}
	st.Event = d
	return st
}

// fileID returns ID from a download URI ".../files/ID:download?...", or "".
func fileID(uri string) string {
	_, rest, ok := strings.Cut(uri, "/files/")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, ":download")
	if !ok || strings.ContainsAny(id, "/?#") {
		return ""
	}
	return id
}

// interactionState maps an interaction's status to its event. queued,
// in_progress and requires_continuation (which the server resolves itself
// for background interactions) have not ended. incomplete ended with what
// output there is, so it synthesizes interaction.completed; budget_exceeded
// produced no result, so interaction.failed. A completed interaction with a
// video output synthesizes video.generated, the event of a finished video.
func interactionState(name string, it *geminihooks.Interaction) *state {
	st := &state{Done: true, EndedAt: it.Updated}
	switch it.Status {
	case "completed":
		if v := it.OutputVideoURI; v != "" {
			d := &event.Video{ID: name, OutputFileURI: v, VideoURI: v, FileID: fileID(v)}
			if d.FileID != "" {
				d.FileName = "files/" + d.FileID
			}
			st.Event = d
			break
		}
		st.Event = &event.Interaction{Type: event.TypeInteractionCompleted, ID: name}
	case "incomplete":
		st.Event = &event.Interaction{Type: event.TypeInteractionCompleted, ID: name}
	case "requires_action":
		st.Event = &event.Interaction{Type: event.TypeInteractionRequiresAction, ID: name}
	case "cancelled":
		st.Event = &event.Interaction{Type: event.TypeInteractionCancelled, ID: name}
	case "failed", "budget_exceeded":
		d := &event.Interaction{Type: event.TypeInteractionFailed, ID: name, ErrorCode: it.ErrorCode, ErrorMessage: it.ErrorMessage}
		if d.ErrorCode == "" && it.Status == "budget_exceeded" {
			d.ErrorCode = "BUDGET_EXCEEDED"
		}
		st.Event = d
	default:
		return &state{}
	}
	return st
}
