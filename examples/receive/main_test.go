package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
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
	emu, err := emulator.NewServer(&emulator.Config{
		InsecureAllowHTTPLoopback: true,
		Running:                   10 * time.Millisecond,
		Outcome: func(j emulator.Job) emulator.Outcome {
			if j.DisplayName == "bad" {
				return "failed"
			}
			return "succeeded"
		},
	})
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
	c, err := geminihooks.NewClient(gc, &geminihooks.Config{InsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}

	logged := make(lines, 8)
	srv := httptest.NewUnstartedServer(nil)
	_, secret, err := c.Webhooks.Create(ctx, geminihooks.Webhook{
		URI:    "http://" + srv.Listener.Addr().String() + "/gemini",
		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := newListener(string(secret), slog.New(slog.NewTextHandler(logged, nil)))
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
		want[job.Name] = map[string]string{
			"good": `msg="batch succeeded" batch=` + job.Name + ` results="` + emu.URL,
			"bad":  `msg="batch failed" batch=` + job.Name + " code=13 ",
		}[name]
	}
	for len(want) > 0 {
		select {
		case line := <-logged:
			if !strings.Contains(line, `msg="batch `) {
				continue // the listener's own records
			}
			matched := ""
			for job, says := range want {
				if strings.Contains(line, says) {
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

// TestReceiveLogsRejectionsAndDeadLetters: a receiver built as in the README
// sees a delivery signed with the wrong secret (401) and an event its
// handler cannot take (dead-lettered) in its log, not only successes.
func TestReceiveLogsRejectionsAndDeadLetters(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	logged := make(lines, 8)
	l, err := newListener(secret, slog.New(slog.NewTextHandler(logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l)
	defer srv.Close()
	runCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- l.Run(runCtx) }()
	defer func() {
		stop()
		<-stopped
	}()

	post := func(id, secret string, body []byte) int {
		t.Helper()
		now := time.Now()
		req := httptest.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.RequestURI = ""
		if err := (signing.Signer{Secrets: []string{secret}}).Sign(req.Header, id, now, body); err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(parts ...string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case line := <-logged:
				found := true
				for _, p := range parts {
					found = found && strings.Contains(line, p)
				}
				if found {
					return
				}
			case <-deadline:
				t.Fatalf("no log line with %q within 30s", parts)
			}
		}
	}

	good, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1", OutputFileURI: "files/out-1"}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := post("msg_wrong_secret", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", good); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: status %d, want 401", code)
	}
	waitFor("level=WARN", `msg="listener: delivery rejected"`, "status=401")

	// A batch.failed whose id is a number: the typed handler cannot decode
	// it, so the event is dead-lettered at once.
	bad := []byte(`{"type":"batch.failed","timestamp":"2026-01-22T12:00:00Z","data":{"id":42}}`)
	if code := post("msg_undecodable", secret, bad); code != http.StatusAccepted {
		t.Fatalf("undecodable event: status %d, want 202", code)
	}
	waitFor("level=ERROR", `msg="listener: event dead-lettered"`, "webhook_id=msg_undecodable", "type=batch.failed")
	if st := l.Stats(); st.Unauthorized != 1 || st.Dead != 1 {
		t.Errorf("stats: %d unauthorized, %d dead; want 1 and 1", st.Unauthorized, st.Dead)
	}
}

func TestNewListenerNeedsSecret(t *testing.T) {
	t.Parallel()
	if _, err := newListener("", slog.Default()); err == nil || !strings.Contains(err.Error(), "Config.Secrets[0] is empty") {
		t.Errorf("newListener(\"\") = %v, want signing's error for an empty secret", err)
	}
}
