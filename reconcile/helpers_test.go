package reconcile_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/reconcile"
	"github.com/geminihooks/geminihooks/signing"
)

// fakeClock is the reconciler's and client's clock. The emulator and the
// signatures run on real time: the reconciler only compares job end times,
// which the emulator reports in real time, with its own now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Now().UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// captured is a delivery the front server kept instead of forwarding.
type captured struct {
	header http.Header
	body   []byte
}

// env is an emulator whose deliveries reach a listener through a front
// server that can lose them, a client that tracks what it launches in the
// listener's inbox, and a record of handler runs.
type env struct {
	t      *testing.T
	clock  *fakeClock
	emu    *emulator.Server
	client *geminihooks.Client
	ib     inbox.Inbox
	lg     ledger.Ledger
	front  *httptest.Server

	configure []func(*geminihooks.Config) // changes to the client's Config

	l    atomic.Pointer[listener.Listener]
	down atomic.Bool // the front answers 503 to everything

	mu      sync.Mutex
	drop    map[string]bool       // job ids whose deliveries are lost
	dropped map[string][]captured // what was lost, by job id
	runs    map[string][]bool     // handler runs by job id: was the event synthesized
	data    map[string]event.Data // the last handled event's data by job id
	meta    map[string]map[string]any
}

// store is the inbox and the ledger an env runs on.
type store struct {
	ib inbox.Inbox
	lg ledger.Ledger
}

// newEnv starts the emulator, the front server and the client. A nil st, or
// a nil field of it, means a fresh in-memory inbox or ledger. Call start to
// run the listener.
func newEnv(t *testing.T, st *store, emuCfg *emulator.Config, configure ...func(*geminihooks.Config)) *env {
	t.Helper()
	var s store
	if st != nil {
		s = *st
	}
	if s.ib == nil {
		ib, err := inbox.NewMemory(nil)
		if err != nil {
			t.Fatal(err)
		}
		s.ib = ib
	}
	if s.lg == nil {
		s.lg = ledger.NewMemory()
	}
	ib := s.ib
	e := &env{t: t, clock: newClock(), ib: ib, lg: s.lg, drop: map[string]bool{}, dropped: map[string][]captured{}, runs: map[string][]bool{}, data: map[string]event.Data{}, meta: map[string]map[string]any{}}
	t.Cleanup(func() { ib.Close() })
	e.front = httptest.NewServer(http.HandlerFunc(e.serveFront))
	t.Cleanup(e.front.Close)
	var ec emulator.Config
	if emuCfg != nil {
		ec = *emuCfg
	}
	ec.InsecureAllowHTTPLoopback = true
	emu, err := emulator.NewServer(&ec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	e.emu = emu
	e.configure = configure
	e.client = e.newClient()
	return e
}

// newClient returns a client on the emulator that tracks jobs in e.lg.
func (e *env) newClient() *geminihooks.Client {
	e.t.Helper()
	gc, err := genai.NewClient(e.t.Context(), &genai.ClientConfig{
		APIKey: e.emu.APIKey, Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: e.emu.URL},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := &geminihooks.Config{InsecureLoopbackHTTP: true, Ledger: e.lg, Now: e.clock.Now}
	for _, f := range e.configure {
		f(cfg)
	}
	c, err := geminihooks.NewClient(gc, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// serveFront loses deliveries of dropped jobs (a 204 that forwards
// nothing: what a lost delivery looks like from both sides), refuses all
// while down, and forwards the rest to the listener.
func (e *env) serveFront(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if e.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if ev, err := event.Parse(body); err == nil {
		e.mu.Lock()
		lose := e.drop[ev.JobID]
		if lose {
			e.dropped[ev.JobID] = append(e.dropped[ev.JobID], captured{r.Header.Clone(), body})
		}
		e.mu.Unlock()
		if lose {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	l := e.l.Load()
	if l == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	l.ServeHTTP(w, r)
}

// start runs a listener on the env's inbox that verifies the emulator's
// dynamic signatures and the given webhook secrets, with a handler for
// every job event that records the run.
func (e *env) start(secrets ...geminihooks.Secret) *listener.Listener {
	e.t.Helper()
	keys, err := e.emu.PublicKeys()
	if err != nil {
		e.t.Fatal(err)
	}
	jwks, err := signing.MarshalJWKS(keys...)
	if err != nil {
		e.t.Fatal(err)
	}
	ks, err := signing.NewStaticKeySet(jwks)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := &signing.Config{Keys: ks}
	for _, s := range secrets {
		cfg.Secrets = append(cfg.Secrets, string(s))
	}
	v, err := signing.NewVerifier(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := listener.New(v, &listener.Config{Inbox: e.ib, Ledger: e.lg, PollInterval: 5 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	for ti := range event.Types() {
		if ti.Type == ti.Canonical && (ti.Terminal || ti.Type == event.TypeInteractionRequiresAction) {
			l.On(ti.Type, e.handle)
		}
	}
	e.l.Store(l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("listener Run: %v", err)
		}
	})
	return l
}

func (e *env) handle(ctx context.Context, ev *event.Event) error {
	m, _ := inbox.ClaimFrom(ctx)
	d, err := ev.Decode()
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.runs[ev.JobID] = append(e.runs[ev.JobID], m != nil && m.Synthesized)
	e.data[ev.JobID] = d
	e.meta[ev.JobID] = ev.UserMetadata
	e.mu.Unlock()
	return nil
}

// dropJob makes the front lose every delivery for job.
func (e *env) dropJob(job string) {
	e.mu.Lock()
	e.drop[job] = true
	e.mu.Unlock()
}

// runCount returns how many jobs had a handler run, and how many runs.
func (e *env) runCount() (jobs, runs int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.runs {
		jobs++
		runs += len(r)
	}
	return jobs, runs
}

// waitFor polls cond until it holds, failing the test after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// idle waits for the emulator's deliveries to settle.
func (e *env) idle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	if err := e.emu.Idle(ctx); err != nil {
		e.t.Fatalf("emulator Idle: %v", err)
	}
}

// launch starts a job of kind with cb and returns its name.
// kindVideoInteraction is, for launch, an interaction that generates a
// video: tracked as an interaction, ending with video.generated.
const kindVideoInteraction ledger.Kind = "video interaction"

func (e *env) launch(kind ledger.Kind, cb *geminihooks.Callback) string {
	e.t.Helper()
	ctx := e.t.Context()
	switch kind {
	case ledger.KindBatch:
		job, err := e.client.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{
			InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}},
		}, nil, cb)
		if err != nil {
			e.t.Fatalf("Batches.Create: %v", err)
		}
		return job.Name
	case ledger.KindVideo:
		op, err := e.client.Videos.Generate(ctx, "veo-3.0-generate-001", &genai.GenerateVideosSource{Prompt: "a cat"}, nil, cb)
		if err != nil {
			e.t.Fatalf("Videos.Generate: %v", err)
		}
		return op.Name
	case ledger.KindInteraction:
		it, err := e.client.Interactions.Create(ctx, geminihooks.InteractionRequest{Model: "gemini-2.5-flash", Input: "hi"}, cb)
		if err != nil {
			e.t.Fatalf("Interactions.Create: %v", err)
		}
		return it.ID
	case kindVideoInteraction:
		it, err := e.client.Interactions.Create(ctx, geminihooks.InteractionRequest{
			Model: "gemini-omni-1.2-flash", Input: "a balloon", ResponseFormat: map[string]any{"type": "video"},
		}, cb)
		if err != nil {
			e.t.Fatalf("Interactions.Create: %v", err)
		}
		return it.ID
	}
	e.t.Fatalf("unknown kind %q", kind)
	return ""
}

// callback sends a job's events to the front server.
func (e *env) callback(meta map[string]any) *geminihooks.Callback {
	return &geminihooks.Callback{URIs: []string{e.front.URL + "/hook"}, UserMetadata: meta}
}

// reconciler returns a reconciler on the env's client, inbox and ledger,
// with cfg, on the env's clock.
func (e *env) reconciler(cfg reconcile.Config) *reconcile.Reconciler {
	e.t.Helper()
	cfg.Now = e.clock.Now
	r, err := reconcile.New(e.client, e.ib, e.lg, &cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// doublingFrom is a Backoff: base after the first look, doubling up to max.
func doublingFrom(base, max time.Duration) func(int) time.Duration {
	return func(checks int) time.Duration {
		d := base
		for i := 0; i < checks && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}
