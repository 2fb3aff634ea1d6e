// Static-notifier registers a static webhook for batch events, launches two
// batches, and posts a one-line summary of each finished batch to a
// chat-style incoming-webhook URL (Slack, Google Chat, Teams: a JSON POST of
// {"text": ...}).
//
//	go run ./examples/static-notifier
//
// runs offline against an in-process emulator, with a local server standing
// in for the chat service. Flags point it at the real thing:
//
//	GEMINI_API_KEY=... go run ./examples/static-notifier \
//		-public-url https://hooks.example.com -chat-url https://hooks.slack.com/services/...
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/examples/internal/backend"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

type config struct {
	backend backend.Config
	// chatURL is the chat service's incoming-webhook URL.
	chatURL string
	model   string
}

// result is what a run did, for its log and its test.
type result struct {
	Webhook string   // the registered webhook's ID (deleted again at the end)
	Batches []string // the batches launched
	Posted  []string // the summaries the chat service accepted
	Stats   listener.Stats
}

// batches are the jobs the example launches. With the emulator, the one named
// broken-input fails; the real API decides for itself.
var batches = []string{"nightly-report", "broken-input"}

func emulatorOutcome() func(emulator.Job) emulator.Outcome {
	return func(j emulator.Job) emulator.Outcome {
		if j.DisplayName == "broken-input" {
			return "failed"
		}
		return "succeeded"
	}
}

// registerWebhook registers hookURL for batch events and returns the webhook
// with a verifier for its signing secret. The secret is shown only in this
// answer: a real service stores string(secret) in its secret manager and
// builds the verifier from it at start-up.
func registerWebhook(ctx context.Context, client *geminihooks.Client, hookURL string) (*geminihooks.Webhook, *signing.Verifier, error) {
	wh, secret, err := client.Webhooks.Create(ctx, geminihooks.Webhook{
		URI:    hookURL,
		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed, event.TypeBatchExpired},
		Name:   "static-notifier",
	})
	if err != nil {
		return nil, nil, err
	}
	verifier, err := signing.NewVerifier(&signing.Config{Secrets: []string{string(secret)}})
	if err != nil {
		return nil, nil, err
	}
	return wh, verifier, nil
}

// deleteWebhook removes the webhook when the program is done with it.
func deleteWebhook(ctx context.Context, client *geminihooks.Client, id string) error {
	// Deferred calls get a context of their own: ctx may be spent.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return client.Webhooks.Delete(dctx, id)
}

func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	log := backend.NewLog(out)
	env, err := backend.Start(ctx, cfg.backend)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	log.Printf("api", "%s", env.Describe())
	res := &result{}

	wh, verifier, err := registerWebhook(ctx, env.Client, env.HookURL)
	if err != nil {
		return nil, err
	}
	res.Webhook = wh.ID
	log.Printf("webhook", "%s registered for %v at %s", wh.ID, wh.Events, env.HookURL)
	defer func() {
		if err := deleteWebhook(ctx, env.Client, wh.ID); err != nil {
			log.Printf("webhook", "%s not deleted: %v", wh.ID, err)
			return
		}
		log.Printf("webhook", "%s deleted", wh.ID)
	}()
	l, err := listener.New(verifier, nil)
	if err != nil {
		return nil, err
	}
	posted := make(chan string, 4*len(batches))
	notify := func(ctx context.Context, e *event.Event, outcome string) error {
		// Events are thin: ask the API for the batch's name.
		job, err := env.GenAI.Batches.Get(ctx, e.JobID, nil)
		if err != nil {
			return err // retried with backoff
		}
		scheme := ""
		if m, ok := inbox.ClaimFrom(ctx); ok {
			scheme = m.Scheme
		}
		log.Printf("event", "%s %s (signature %s, delivery %s)", e.Type, e.JobID, scheme, e.ID)
		text := fmt.Sprintf("Batch %q (%s) %s at %s.", job.DisplayName, e.JobID, outcome, e.Timestamp.Format(time.RFC3339))
		if err := postChat(ctx, cfg.chatURL, text); err != nil {
			return err
		}
		log.Printf("chat", "posted the summary of %s", e.JobID)
		select {
		case posted <- text:
		case <-ctx.Done():
		}
		return nil
	}
	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Batch) error {
		switch d.Type {
		case event.TypeBatchSucceeded:
			return notify(ctx, e, "succeeded, results in "+d.OutputFileURI)
		case event.TypeBatchFailed:
			return notify(ctx, e, fmt.Sprintf("failed with %s: %s", d.ErrorCode, d.ErrorMessage))
		case event.TypeBatchExpired:
			return notify(ctx, e, "expired")
		}
		return nil
	})
	env.Mux.Handle(backend.HookPath, l)
	sctx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- l.Serve(sctx, env.Server, env.Socket) }()
	// drain stops taking deliveries, then lets the workers finish: Serve
	// does it in that order, so nothing is answered 2xx that no worker will
	// handle.
	drain := sync.OnceValue(func() error {
		stopServing()
		return <-served
	})
	defer drain()

	for _, name := range batches {
		// A nil callback: events go to the registered webhooks.
		job, err := env.Client.Batches.Create(ctx, cfg.model,
			&genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("Summarise today's sales.")}}},
			&genai.CreateBatchJobConfig{DisplayName: name}, nil)
		if err != nil {
			return nil, err
		}
		res.Batches = append(res.Batches, job.Name)
		log.Printf("batch", "%s %q launched", job.Name, name)
	}

	for len(res.Posted) < len(batches) {
		select {
		case text := <-posted:
			res.Posted = append(res.Posted, text)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for batch events: %w", ctx.Err())
		}
	}
	if err := env.Settle(ctx); err != nil {
		return nil, err
	}
	if err := drain(); err != nil {
		return nil, err
	}
	res.Stats = l.Stats()
	log.Printf("done", "%d batches, %d chat posts; %d deliveries stored, %d duplicates, %d rejected",
		len(res.Batches), len(res.Posted), res.Stats.Stored, res.Stats.Duplicates, res.Stats.Received-res.Stats.Stored-res.Stats.Duplicates)
	return res, nil
}

// postChat posts text to an incoming-webhook URL. A non-2xx answer is an
// error, so the listener retries the event.
func postChat(ctx context.Context, url, text string) error {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("chat: answered %s", resp.Status)
	}
	return nil
}

// chatStandIn is a local incoming-webhook endpoint that prints what it gets.
func chatStandIn(out io.Writer) *httptest.Server {
	log := backend.NewLog(out)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || msg.Text == "" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		log.Printf("chat-room", "%s", msg.Text)
		fmt.Fprint(w, "ok")
	}))
}

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "static-notifier:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	var cfg config
	cfg.backend.RegisterFlags(flag.CommandLine)
	flag.StringVar(&cfg.chatURL, "chat-url", "", "chat incoming-webhook URL (default: a local stand-in)")
	flag.StringVar(&cfg.model, "model", "gemini-2.5-flash", "model for the batches")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after this long (real batches can take hours)")
	flag.Parse()
	if cfg.backend.PublicURL == "" {
		cfg.backend.EmulatorOutcome = emulatorOutcome()
	}
	if cfg.chatURL == "" {
		chat := chatStandIn(os.Stdout)
		defer chat.Close()
		cfg.chatURL = chat.URL
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	_, err := run(ctx, cfg, os.Stdout)
	return err
}
