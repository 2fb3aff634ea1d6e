package geminihooks_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/ledger"
)

var trackStart = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

// trackingClient returns a manual-jobs emulator and a client on it
// configured by cfg (which names the tracker), on loopback http and with
// the clock at trackStart.
func trackingClient(t *testing.T, cfg geminihooks.Config) (*emulator.Server, *geminihooks.Client) {
	t.Helper()
	emu, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true, ManualJobs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey: emu.APIKey, Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: emu.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.InsecureLoopbackHTTP = true
	cfg.Now = func() time.Time { return trackStart }
	c, err := geminihooks.NewClient(gc, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

// launchAll starts one job of each kind with cb (nil: registered webhooks)
// and returns their names by kind.
func launchAll(t *testing.T, c *geminihooks.Client, cb *geminihooks.Callback) map[ledger.Kind]string {
	t.Helper()
	ctx := t.Context()
	job, err := c.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{
		InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}},
	}, nil, cb)
	if err != nil {
		t.Fatalf("Batches.Create: %v", err)
	}
	op, err := c.Videos.Generate(ctx, "veo-3.0-generate-001", &genai.GenerateVideosSource{Prompt: "a cat"}, nil, cb)
	if err != nil {
		t.Fatalf("Videos.Generate: %v", err)
	}
	it, err := c.Interactions.Create(ctx, geminihooks.InteractionRequest{Model: "gemini-2.5-flash", Input: "hi", Background: true}, cb)
	if err != nil {
		t.Fatalf("Interactions.Create: %v", err)
	}
	return map[ledger.Kind]string{ledger.KindBatch: job.Name, ledger.KindVideo: op.Name, ledger.KindInteraction: it.ID}
}

func TestTrackerRecordsLaunchedJobs(t *testing.T) {
	t.Parallel()
	wantEvents := map[ledger.Kind][]string{
		ledger.KindBatch:       {"batch.succeeded", "batch.expired", "batch.failed", "batch.cancelled"},
		ledger.KindVideo:       {"video.generated"},
		ledger.KindInteraction: {"interaction.requires_action", "interaction.completed", "interaction.failed", "video.generated", "interaction.cancelled"},
	}
	for _, tc := range []struct {
		name     string
		static   bool // Config.TrackStatic
		callback bool
		tracked  bool
	}{
		{"callback", false, true, true},
		{"static untracked", false, false, false},
		{"static tracked", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := ledger.NewMemory()
			_, c := trackingClient(t, geminihooks.Config{Ledger: mem, TrackStatic: tc.static})
			var cb *geminihooks.Callback
			var meta []byte
			if tc.callback {
				cb = &geminihooks.Callback{URIs: []string{"http://127.0.0.1:1/hook"}, UserMetadata: map[string]any{"group": "g1"}}
				meta = []byte(`{"group":"g1"}`)
			}
			for kind, name := range launchAll(t, c, cb) {
				got, err := mem.Job(t.Context(), name)
				if !tc.tracked {
					if !errors.Is(err, ledger.ErrNotFound) {
						t.Errorf("%s %s: TrackedJob = %+v, %v; want not tracked", kind, name, got, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s %s: %v", kind, name, err)
				}
				want := &ledger.Job{
					Name: name, Kind: kind, Events: wantEvents[kind], UserMetadata: meta,
					LaunchedAt: trackStart, NextCheck: trackStart.Add(15 * time.Minute),
				}
				if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("%s (-want +got):\n%s", kind, d)
				}
			}
		})
	}
}

// failingTracker fails every Track.
type failingTracker struct{ ledger.Ledger }

func (failingTracker) Track(context.Context, *ledger.Job) error {
	return errors.New("disk on fire")
}

// A job the API accepted is returned even when recording it fails: a
// retried launch would start it twice. The failure is logged.
func TestTrackerFailureReturnsJob(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	_, c := trackingClient(t, geminihooks.Config{
		Ledger: failingTracker{ledger.NewMemory()},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	job, err := c.Batches.Create(t.Context(), "gemini-2.5-flash", &genai.BatchJobSource{
		InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}},
	}, nil, &geminihooks.Callback{URIs: []string{"http://127.0.0.1:1/hook"}})
	if err != nil || job == nil || job.Name == "" {
		t.Fatalf("Create = %v, %v; want the job", job, err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), job.Name) {
		t.Errorf("log does not report the failure for %s:\n%s", job.Name, logs.String())
	}
}

func TestGetJobs(t *testing.T) {
	t.Parallel()
	emu, c := trackingClient(t, geminihooks.Config{Ledger: ledger.NewMemory()})
	names := launchAll(t, c, nil)
	ctx := t.Context()
	job, err := c.Batches.Get(ctx, names[ledger.KindBatch])
	if err != nil || job.State == genai.JobStateSucceeded {
		t.Fatalf("Batches.Get before the end = %+v, %v", job, err)
	}
	for _, name := range names {
		if err := emu.Finish(name, "succeeded"); err != nil {
			t.Fatal(err)
		}
	}
	if job, err = c.Batches.Get(ctx, names[ledger.KindBatch]); err != nil || job.State != genai.JobStateSucceeded {
		t.Errorf("Batches.Get = %+v, %v; want succeeded", job, err)
	}
	if job.Dest == nil || len(job.Dest.InlinedResponses) != 1 {
		t.Errorf("batch dest = %+v; want one inlined response", job.Dest)
	}
	op, err := c.Videos.Get(ctx, names[ledger.KindVideo])
	if err != nil || !op.Done || op.Response == nil || len(op.Response.GeneratedVideos) != 1 {
		t.Errorf("Videos.Get = %+v, %v; want done with a video", op, err)
	}
	it, err := c.Interactions.Get(ctx, names[ledger.KindInteraction])
	if err != nil || it.Status != "completed" {
		t.Errorf("Interactions.Get = %+v, %v; want completed", it, err)
	}
	failed := launchAll(t, c, nil)[ledger.KindBatch]
	if err := emu.Finish(failed, "failed"); err != nil {
		t.Fatal(err)
	}
	if job, err = c.Batches.Get(ctx, failed); err != nil || job.State != genai.JobStateFailed || job.Error == nil || job.Error.Code == nil || job.Error.Message == "" {
		t.Errorf("Batches.Get(failed) = %+v, %v; want its error", job, err)
	}
	if _, err := c.Batches.Get(ctx, "batches/none"); !errors.Is(err, geminihooks.ErrNotFound) {
		t.Errorf("Batches.Get(unknown) = %v; want ErrNotFound", err)
	}
	if got, want := c.DownloadURI("files/abc"), emu.URL+"/download/v1beta/files/abc:download?alt=media"; got != want {
		t.Errorf("DownloadURI = %q; want %q", got, want)
	}
}

// A background interaction without a callback that comes back queued is
// still to end, so Config.TrackStatic records it; a foreground one that
// answered completed has no event to wait for.
func TestTrackerRecordsQueuedInteraction(t *testing.T) {
	t.Parallel()
	emu, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true, Pending: time.Hour, Running: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey: emu.APIKey, Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: emu.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	mem := ledger.NewMemory()
	c, err := geminihooks.NewClient(gc, &geminihooks.Config{Ledger: mem, TrackStatic: true})
	if err != nil {
		t.Fatal(err)
	}
	create := func(background bool) *geminihooks.Interaction {
		it, err := c.Interactions.Create(t.Context(), geminihooks.InteractionRequest{
			Model: "gemini-2.5-flash", Input: "hi", Background: background,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	queued := create(true)
	if queued.Status != "queued" {
		t.Fatalf("status %q; want queued", queued.Status)
	}
	if _, err := mem.Job(t.Context(), queued.ID); err != nil {
		t.Errorf("queued interaction not tracked: %v", err)
	}
	done := create(false)
	if done.Status != "completed" {
		t.Fatalf("foreground status %q; want completed", done.Status)
	}
	if _, err := mem.Job(t.Context(), done.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("completed foreground interaction tracked: %v", err)
	}
}
