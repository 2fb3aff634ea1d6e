package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/examples/internal/backend"
)

func TestRun(t *testing.T) {
	t.Parallel()
	emu, err := emulator.NewServer(&emulator.Config{
		InsecureAllowHTTPLoopback: true,
		Running:                   10 * time.Millisecond,
		Outcome:                   emulatorOutcome(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	res, err := run(ctx, config{backend: backend.Config{Emulator: emu}, model: "gemini-2.5-flash", prompt: "Weather?"}, &out)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, &out)
	}

	// The tool ran once, for the call the first interaction made.
	if len(res.ToolCalls) != 1 {
		t.Fatalf("tool ran %d times, want 1: %+v", len(res.ToolCalls), res.ToolCalls)
	}
	call := res.ToolCalls[0]
	if call.Interaction != res.Started || call.CallID == "" {
		t.Errorf("tool call %+v, want one for interaction %s with a call ID", call, res.Started)
	}
	if diff := cmp.Diff(any(forecasts["Oslo"]), call.Result); diff != "" {
		t.Errorf("tool result (-want +got):\n%s", diff)
	}

	// The answer created one follow-up, which completed and reported it.
	if len(res.FollowUps) != 1 || res.Completed != res.FollowUps[0] {
		t.Fatalf("follow-ups %v, completed %q: want the one follow-up completed", res.FollowUps, res.Completed)
	}
	first, err := emu.Job(res.Started)
	if err != nil {
		t.Fatal(err)
	}
	next, err := emu.Job(res.Completed)
	if err != nil {
		t.Fatal(err)
	}
	if first.Outcome != "requires_action" || next.Outcome != "succeeded" {
		t.Errorf("outcomes: first %s, follow-up %s; want requires_action then succeeded", first.Outcome, next.Outcome)
	}
	// A nil callback carried the first interaction's over.
	if diff := cmp.Diff(first.WebhookURIs, next.WebhookURIs); diff != "" || len(next.WebhookURIs) != 1 {
		t.Errorf("follow-up callback URIs %v, want the first's %v", next.WebhookURIs, first.WebhookURIs)
	}
	if next.UserMetadata["conversation"] != "weather" {
		t.Errorf("follow-up user metadata %v, want conversation=weather", next.UserMetadata)
	}
	if st := res.Stats; st.Stored != 2 || st.Processed != 2 || st.Retried != 0 || st.Dead != 0 {
		t.Errorf("stats = %+v, want 2 events stored and processed", st)
	}
}

func TestGetWeather(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    map[string]any
		want    any
		wantErr bool
	}{
		{args: map[string]any{}, want: forecasts["Oslo"]},
		{args: map[string]any{"city": "Lisbon"}, want: forecasts["Lisbon"]},
		{args: map[string]any{"city": "Atlantis"}, wantErr: true},
		{args: map[string]any{"city": 7}, want: forecasts["Oslo"]},
	} {
		got, err := getWeather(tc.args)
		if (err != nil) != tc.wantErr {
			t.Errorf("getWeather(%v) error = %v, want error %v", tc.args, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
			t.Errorf("getWeather(%v) (-want +got):\n%s", tc.args, diff)
		}
	}
}
