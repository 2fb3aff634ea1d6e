package main

import (
	"context"
	"errors"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// lines hands each log line to the test.
type lines chan string

func (c lines) Write(p []byte) (int, error) {
	c <- string(p)
	return len(p), nil
}

// TestReceive registers the listener as a webhook with the emulator, which
// then delivers a failed and a succeeded batch to it, signed.
func TestReceive(t *testing.T) {
	t.Parallel()
	emu, err := emulator.NewServer(
		emulator.WithAllowHTTPLoopback(),
		emulator.WithJobDurations(0, 10*time.Millisecond),
		emulator.WithOutcome(func(j emulator.Job) emulator.Outcome {
			if j.DisplayName == "bad" {
				return emulator.OutcomeFailed
			}
			return emulator.OutcomeSucceeded
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gc, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: emu.APIKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: emu.URL}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := geminihooks.NewClient(gc, geminihooks.WithAllowInsecureCallbacks())
	if err != nil {
		t.Fatal(err)
	}

	logged := make(lines, 8)
	srv := httptest.NewUnstartedServer(nil)
	wh, err := c.Webhooks.Create(ctx, geminihooks.WebhookSpec{
		URI:    "http://" + srv.Listener.Addr().String() + "/gemini",
		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := newListener(string(wh.Secret), log.New(logged, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = l
	srv.Start()
	defer srv.Close()
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- l.Run(runCtx) }()
	defer func() {
		stop()
		<-stopped
	}()

	want := map[string]string{}
	for _, name := range []string{"good", "bad"} {
		job, err := c.Batches.Create(ctx, "gemini-2.5-flash",
			&genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}}},
			&genai.CreateBatchJobConfig{DisplayName: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[job.Name] = map[string]string{"good": "succeeded; results at " + emu.URL, "bad": "failed: 13 "}[name]
	}
	for len(want) > 0 {
		select {
		case line := <-logged:
			matched := ""
			for job, says := range want {
				if strings.Contains(line, "batch "+job+" "+says) {
					matched = job
				}
			}
			if matched == "" {
				t.Fatalf("log line %q matches no batch still expected: %v", line, want)
			}
			delete(want, matched)
		case <-ctx.Done():
			t.Fatalf("handlers did not log these batches in time: %v", want)
		}
	}
}

func TestNewListenerNeedsSecret(t *testing.T) {
	t.Parallel()
	if _, err := newListener("", log.Default()); !errors.Is(err, signing.ErrEmptySecret) {
		t.Errorf("newListener(\"\") = %v, want signing.ErrEmptySecret", err)
	}
}
