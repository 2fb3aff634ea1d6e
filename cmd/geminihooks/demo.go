package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// pollInterval is the polling loop the demo compares push delivery with.
const pollInterval = 5 * time.Second

func demoCommand() *command {
	return &command{
		name:    "demo",
		summary: "run the whole webhook flow offline: emulator, jobs, signed deliveries, a durable listener",
		usage:   "geminihooks demo [--plain] [--dynamic-signing mixed|v1a|jwt] [--timeout 15s]",
		help: `Runs the SDK end to end on this machine, with no API key and no network:

  1. starts the emulator (a local Gemini API) and a listener with a bbolt
     inbox in a temporary directory;
  2. registers a webhook for batch events, through the WebhookService;
  3. launches a batch job (reported to the registered webhook, signed v1),
     a video job (per-request callback, signed v1a) and an interaction
     (per-request callback, signed with a JWT), the callbacks carrying
     user_metadata; the interaction stops to ask for a function result, the
     demo answers, and it completes;
  4. turns on faults: every delivery is sent twice, and exactly one attempt
     fails, so it is retried;
  5. shows each event as it is handled: type, job, the signature scheme
     that verified it (v1, v1a or jwt), its user_metadata routing, and the
     time from the job's completion to the handler's start;
  6. ends with a summary: events, duplicates dropped, retries survived, and
     push latency next to what a 5-second polling loop would have cost.

It exits 0 only if every expected event was handled exactly once. On a
terminal it shows progress while the jobs run; elsewhere, plain lines.`,
		example: `go run ./cmd/geminihooks demo
geminihooks demo --dynamic-signing jwt --plain   # every callback signed with a JWT`,
		runner: func() runner { return &demoCmd{} },
	}
}

// demoCmd is `geminihooks demo`.
type demoCmd struct {
	plain              bool
	dynamic            string
	timeout            time.Duration
	video, interaction signing.Scheme // from --dynamic-signing
}

func (c *demoCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.plain, "plain", false, "plain output even on a terminal")
	fs.StringVar(&c.dynamic, "dynamic-signing", "mixed", "`SCHEME` the emulator signs per-request callbacks with: mixed (the video v1a, the interaction JWT), v1a (Ed25519, as seen live) or jwt (RS256, as documented)")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Second, "give up after this long")
}

func (c *demoCmd) validate(_ *env, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	switch c.dynamic {
	case "mixed":
		c.video, c.interaction = signing.SchemeEd25519, signing.SchemeJWT
	case "v1a", "jwt":
		c.video, c.interaction = signing.Scheme(c.dynamic), signing.Scheme(c.dynamic)
	default:
		return usagef("--dynamic-signing must be mixed, v1a or jwt")
	}
	if c.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	return nil
}

// run runs the demo and checks that every expected event was handled once.
func (c *demoCmd) run(ctx context.Context, e *env) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	d := &demo{
		out:         newDemoOutput(e.stdout, e.interactive && !c.plain),
		video:       c.video,
		interaction: c.interaction,
		start:       time.Now(),
		handled:     map[eventKey]int{},
		schemes:     map[string]int{},
		changed:     make(chan struct{}, 1),
	}
	if err := d.run(ctx); err != nil {
		d.out.stopProgress()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("not finished within %s: %w", c.timeout, err)
		}
		return err
	}
	if problems := d.check(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(e.stderr, "geminihooks demo: %s\n", p)
		}
		return exitCode(exitFailure)
	}
	fmt.Fprintf(e.stdout, "\nOK: every expected event was handled exactly once, in %s.\n", time.Since(d.start).Round(10*time.Millisecond))
	return nil
}

// eventKey names an event by what it is about: a job and a type.
type eventKey struct {
	typ event.Type
	job string
}

// sample is one handled event's numbers for the summary.
type sample struct {
	push, poll time.Duration
	polls      int // requests the polling loop would have made
}

type demo struct {
	out         *demoOutput
	video       signing.Scheme // how the emulator signs the video's callback
	interaction signing.Scheme // and the interactions' callbacks
	start       time.Time

	emu         *emulator.Server
	client      *geminihooks.Client
	listenerURL string
	lst         *listener.Listener

	mu       sync.Mutex
	expected []eventKey       // in launch order; the follow-up interaction is added when answered
	handled  map[eventKey]int // handler runs per event, expected or not
	order    []eventKey       // first handling order
	schemes  map[string]int   // events by the scheme that verified their first handling
	samples  []sample
	changed  chan struct{} // a value after each handled event
}

func (d *demo) run(ctx context.Context) error {
	out := d.out
	out.println("geminihooks demo: Gemini webhooks end to end, offline")
	out.println("")

	// 1. The emulator and a listener with a bbolt inbox.
	if err := d.startEmulator(); err != nil {
		return err
	}
	defer d.emu.Close()
	dir, err := os.MkdirTemp("", "geminihooks-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ib, err := boltinbox.Open(filepath.Join(dir, "inbox.db"), nil)
	if err != nil {
		return err
	}
	defer ib.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	d.listenerURL = "http://" + ln.Addr().String() + "/webhooks/gemini"
	out.step(1, "emulator at %s; listener at %s", d.emu.URL, d.listenerURL)
	out.detail("inbox: bbolt file %s (a delivery is stored before its 2xx)", filepath.Join(dir, "inbox.db"))
	if err := d.connect(ctx); err != nil {
		return err
	}

	// 2. A registered webhook for batch events, and the listener that
	// verifies its deliveries with the secret shown once.
	secret, err := d.register(ctx)
	if err != nil {
		return err
	}
	stopListener, err := d.listen(ctx, ib, ln, secret)
	if err != nil {
		return err
	}
	defer stopListener()

	// 4 comes before 3 so that the faults hit the jobs' deliveries.
	if err := d.emu.SetFaults(emulator.Faults{DuplicateRate: 1, FailNext: 1}); err != nil {
		return err
	}
	if err := d.launch(ctx); err != nil {
		return err
	}
	out.step(4, "faults on: every delivery is also sent twice, and exactly one attempt fails (retried after backoff)")
	out.step(5, "events as the handlers get them:")
	out.header()
	out.startProgress(d.progress)

	if err := d.waitAll(ctx); err != nil {
		return err
	}
	// Let the retries and duplicates that are still in flight land, so
	// the counts below are final and a second handling would show.
	if err := d.emu.Idle(ctx); err != nil {
		return err
	}
	if err := stopListener(); err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	out.stopProgress()
	d.summary()
	return nil
}

// startEmulator starts the emulator, fast, with interactions that ask for
// a function result first.
func (d *demo) startEmulator() error {
	emu, err := emulator.NewServer(&emulator.Config{
		InsecureAllowHTTPLoopback: true,
		Pending:                   250 * time.Millisecond,
		Running:                   time.Second,
		RetryBackoff:              150 * time.Millisecond,
		RetryBackoffMax:           2 * time.Second,
		// The interactions take the server's default; the video picks its
		// own scheme with a header on its create call (see launch).
		DynamicSigning: d.interaction,
		Outcome: func(j emulator.Job) emulator.Outcome {
			if j.Kind == "interaction" && j.UserMetadata["step"] == "ask" {
				return "requires_action"
			}
			return "succeeded"
		},
	})
	d.emu = emu
	return err
}

// connect makes the client, through genai, as a program would.
func (d *demo) connect(ctx context.Context) error {
	gc, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      d.emu.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: d.emu.URL},
	})
	if err != nil {
		return err
	}
	d.client, err = geminihooks.NewClient(gc, &geminihooks.Config{InsecureLoopbackHTTP: true})
	return err
}

// register registers a webhook for batch events and returns its signing
// secret, which the API shows once.
func (d *demo) register(ctx context.Context) (geminihooks.Secret, error) {
	hook, secret, err := d.client.Webhooks.Create(ctx, geminihooks.Webhook{
		URI:    d.listenerURL,
		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed, event.TypeBatchExpired},
		Name:   "geminihooks-demo",
	})
	if err != nil {
		return "", fmt.Errorf("registering the webhook: %w", err)
	}
	d.out.step(2, "registered webhook %s for batch.succeeded, batch.failed, batch.expired", hook.ID)
	d.out.detail("its signing secret came back once and went straight into the verifier")
	return secret, nil
}

// listen serves the listener on ln, verifying with secret and the
// emulator's keys, and returns what stops it: the server first, then the
// workers.
func (d *demo) listen(ctx context.Context, ib *boltinbox.DB, ln net.Listener, secret geminihooks.Secret) (func() error, error) {
	// Fetch the dynamic-signing keys now rather than on the first
	// delivery's request path, as a long-running listener would have them.
	// The demo's deadline, not the key set's 2 s default, bounds this
	// first fetch, so a busy machine is slow rather than failing.
	keys, err := signing.NewRemoteKeySet(d.emu.JWKSURL(), &signing.KeySetConfig{MaxWait: time.Minute})
	if err != nil {
		return nil, err
	}
	pub, err := keys.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching the emulator's JWKS: %w", err)
	}
	d.out.detail("verifier: v1 with that secret; v1a and JWT with the %s of %s", plural(len(pub), "key", "keys"), d.emu.JWKSURL())
	verifier, err := signing.NewVerifier(&signing.Config{
		Secrets:  []string{string(secret)},
		Keys:     keys,
		Audience: []string{d.listenerURL},
	})
	if err != nil {
		return nil, err
	}
	d.lst, err = listener.New(verifier, &listener.Config{
		Inbox:       ib,
		Ledger:      ib.Ledger,
		Workers:     4,
		MaxAttempts: 5,
		Backoff:     doublingFrom(50 * time.Millisecond),
	})
	if err != nil {
		return nil, err
	}
	registerAll(d.lst, d.handle)
	mux := http.NewServeMux()
	mux.Handle("/webhooks/gemini", d.lst)
	srv := newServer(mux, defaultReadTimeout, nil)
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- d.lst.Serve(serveCtx, srv, ln) }()
	return sync.OnceValue(func() error {
		stopServing()
		return <-served
	}), nil
}

// launch starts the three jobs and records the events they must bring.
func (d *demo) launch(ctx context.Context) error {
	batch, err := d.client.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{
		InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("Summarise webhooks in one line.")}},
	}, &genai.CreateBatchJobConfig{DisplayName: "nightly-eval"}, nil)
	if err != nil {
		return fmt.Errorf("launching the batch: %w", err)
	}
	// x-emulator-signing is the emulator's per-job switch; the real service
	// chooses the scheme itself, and the verifier accepts any of them.
	videoHeaders := http.Header{}
	videoHeaders.Set(emulator.SigningHeader, string(d.video))
	video, err := d.client.Videos.Generate(ctx, "veo-3.0-generate-001", &genai.GenerateVideosSource{Prompt: "a lighthouse at dusk"},
		&genai.GenerateVideosConfig{HTTPOptions: &genai.HTTPOptions{Headers: videoHeaders}},
		&geminihooks.Callback{URIs: []string{d.listenerURL}, UserMetadata: map[string]any{"tenant": "acme", "route": "media-pipeline"}})
	if err != nil {
		return fmt.Errorf("launching the video: %w", err)
	}
	inter, err := d.client.Interactions.Create(ctx, geminihooks.InteractionRequest{
		Model: "gemini-2.5-flash",
		Input: "What is the weather in Oslo?",
		Tools: []geminihooks.Function{{Name: "get_weather"}},
	}, d.callback("ask"))
	if err != nil {
		return fmt.Errorf("launching the interaction: %w", err)
	}
	if inter.ID == "" {
		return errors.New("the interaction came back without an ID")
	}
	d.mu.Lock()
	d.expected = append(d.expected,
		eventKey{event.TypeBatchSucceeded, batch.Name},
		eventKey{event.TypeVideoGenerated, video.Name},
		eventKey{event.TypeInteractionRequiresAction, inter.ID},
	)
	d.mu.Unlock()
	d.out.step(3, "launched three jobs")
	d.out.detail("batch        %s  -> the registered webhook (v1, HMAC)", batch.Name)
	d.out.detail("video        %s  -> per-request callback (%s), user_metadata route=media-pipeline", video.Name, schemeName(d.video))
	d.out.detail("interaction  %s  -> per-request callback (%s), user_metadata route=agent-loop", shortID(inter.ID), schemeName(d.interaction))
	return nil
}

// callback is the per-request callback of the demo's interactions.
func (d *demo) callback(step string) *geminihooks.Callback {
	return &geminihooks.Callback{
		URIs:         []string{d.listenerURL},
		UserMetadata: map[string]any{"tenant": "acme", "route": "agent-loop", "step": step},
	}
}

// handle is the listener's handler for every event.
func (d *demo) handle(ctx context.Context, ev *event.Event) error {
	started := time.Now()
	scheme := ""
	if m, ok := inbox.ClaimFrom(ctx); ok {
		scheme = m.Scheme
	}
	var (
		push, poll time.Duration
		polls      int
	)
	if j, err := d.emu.Job(ev.JobID); err == nil && !j.EndTime.IsZero() {
		push = started.Sub(j.EndTime)
		// A loop polling every 5 s from the job's creation sees the end at
		// its first poll after it.
		polls = int(j.EndTime.Sub(j.CreateTime)/pollInterval) + 1
		poll = j.CreateTime.Add(time.Duration(polls) * pollInterval).Sub(j.EndTime)
	}
	note := routeNote(ev)
	if ev.Type == event.TypeInteractionRequiresAction {
		next, err := d.answer(ctx, ev.JobID)
		if err != nil {
			return err
		}
		note += "; answered get_weather, follow-up " + shortID(next)
	}
	d.mu.Lock()
	key := eventKey{ev.Type, ev.JobID}
	if d.handled[key] == 0 {
		d.order = append(d.order, key)
		d.schemes[scheme]++
		if push > 0 {
			d.samples = append(d.samples, sample{push: push, poll: poll, polls: polls})
		}
	}
	d.handled[key]++
	d.mu.Unlock()
	d.out.event(time.Since(d.start), ev, scheme, note, push)
	select {
	case d.changed <- struct{}{}:
	default:
	}
	return nil
}

// answer runs the interaction's function calls (a canned forecast) and
// sends the results, which continues it as a follow-up interaction.
func (d *demo) answer(ctx context.Context, id string) (string, error) {
	it, err := d.client.Interactions.Get(ctx, id)
	if err != nil {
		return "", err
	}
	results := it.FunctionCalls
	for i := range results {
		results[i].Result = map[string]any{"forecast": "light snow", "temp_c": -2}
	}
	next, err := d.client.Interactions.SubmitFunctionResults(ctx, id, results, d.callback("answer"))
	if err != nil {
		return "", err
	}
	if next.ID == "" {
		return "", errors.New("the follow-up interaction came back without an ID")
	}
	d.mu.Lock()
	d.expected = append(d.expected, eventKey{event.TypeInteractionCompleted, next.ID})
	d.mu.Unlock()
	return next.ID, nil
}

// waitAll returns once every expected event has been handled.
func (d *demo) waitAll(ctx context.Context) error {
	for {
		d.mu.Lock()
		done := len(d.expected) == 4
		for _, k := range d.expected {
			if d.handled[k] == 0 {
				done = false
			}
		}
		d.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-d.changed:
		case <-ctx.Done():
			d.out.stopProgress()
			return fmt.Errorf("waiting for events (%s): %w", d.missing(), ctx.Err())
		}
	}
}

// missing lists the expected events not handled yet.
func (d *demo) missing() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var m []string
	for _, k := range d.expected {
		if d.handled[k] == 0 {
			m = append(m, string(k.typ)+" "+shortID(k.job))
		}
	}
	if len(d.expected) < 4 {
		m = append(m, "interaction.completed of the follow-up")
	}
	if len(m) == 0 {
		return "none missing"
	}
	return "missing " + strings.Join(m, ", ")
}

// check returns what went wrong: an expected event not handled exactly
// once, or an event nobody expected.
func (d *demo) check() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var problems []string
	want := map[eventKey]bool{}
	for _, k := range d.expected {
		want[k] = true
		if n := d.handled[k]; n != 1 {
			problems = append(problems, fmt.Sprintf("%s for %s was handled %s, want exactly once", k.typ, k.job, plural(n, "time", "times")))
		}
	}
	for _, k := range d.order {
		if !want[k] {
			problems = append(problems, fmt.Sprintf("unexpected event %s for %s", printable(string(k.typ)), printable(k.job)))
		}
	}
	if len(d.expected) != 4 {
		problems = append(problems, "the interaction was never answered")
	}
	return problems
}

// progress is the status line shown on a terminal while jobs run.
func (d *demo) progress() string {
	var done, running, pending int
	for _, j := range d.emu.Jobs() {
		switch {
		case j.Done():
			done++
		case j.Phase == "running":
			running++
		default:
			pending++
		}
	}
	d.mu.Lock()
	n := len(d.order)
	d.mu.Unlock()
	// Short enough for an 80-column terminal, so \r redraws one line.
	return fmt.Sprintf("%s jobs: %d pending, %d running, %d done | events %d/4 | %s | %.1fs",
		spinner(time.Since(d.start)), pending, running, done, n, plural(len(d.emu.Attempts()), "attempt", "attempts"),
		time.Since(d.start).Seconds())
}

func spinner(d time.Duration) string {
	frames := `|/-\`
	i := int(d/(100*time.Millisecond)) % len(frames)
	return frames[i : i+1]
}

// summary prints the table that ends the demo.
func (d *demo) summary() {
	st := d.lst.Stats()
	attempts := d.emu.Attempts()
	// A retry survived is a failed attempt of a delivery that later got a
	// 2xx: the event still arrived.
	okByID := map[string]bool{}
	for _, a := range attempts {
		if a.OK {
			okByID[a.ID] = true
		}
	}
	failed, injected, survived := 0, 0, 0
	for _, a := range attempts {
		if a.OK {
			continue
		}
		failed++
		if slices.Contains(a.Faults, "fail") || slices.Contains(a.Faults, "cut") {
			injected++
		}
		if okByID[a.ID] {
			survived++
		}
	}
	d.mu.Lock()
	push := make([]time.Duration, 0, len(d.samples))
	poll := make([]time.Duration, 0, len(d.samples))
	polls := 0
	for _, s := range d.samples {
		push = append(push, s.push)
		poll = append(poll, s.poll)
		polls += s.polls
	}
	events, expected := len(d.order), len(d.expected)
	var schemes []string
	for _, sc := range []signing.Scheme{signing.SchemeHMAC, signing.SchemeEd25519, signing.SchemeJWT} {
		schemes = append(schemes, fmt.Sprintf("%s %d", sc, d.schemes[string(sc)]))
	}
	d.mu.Unlock()

	out := d.out
	out.println("")
	out.step(6, "summary")
	rows := [][2]string{
		{"events delivered", fmt.Sprintf("%d of %d expected", events, expected)},
		{"verified by", strings.Join(schemes, ", ") + " (events per signature scheme)"},
		{"delivery attempts", fmt.Sprintf("%d by the emulator; %d failed, %d of them on purpose", len(attempts), failed, injected)},
		{"duplicates dropped", fmt.Sprintf("%d (same webhook-id, answered 200, handler not run)", st.Duplicates)},
		{"retries survived", fmt.Sprintf("%d (a failed attempt, then the same event delivered)", survived)},
		{"push latency", fmt.Sprintf("p50 %s  p99 %s  (job end to handler start)", fmtDur(percentile(push, 50)), fmtDur(percentile(push, 99)))},
	}
	rows = append(rows, pollingRows(poll, polls)...)
	for _, r := range rows {
		out.println(fmt.Sprintf("    %-20s %s", r[0], r[1]))
	}
}

// pollingRows are the summary's rows for a 5 s polling loop over the same
// jobs. The demo's jobs all last about as long, so each would wait for the
// same poll and p50 comes out equal to p99; the rows then say why, and what
// a spread of job lengths gives, rather than suggest polling has no spread.
func pollingRows(poll []time.Duration, polls int) [][2]string {
	p50, p99 := fmtDur(percentile(poll, 50)), fmtDur(percentile(poll, 99))
	rows := [][2]string{{"5 s polling loop", fmt.Sprintf("p50 %s  p99 %s  (computed from the same jobs' end times: polled every 5 s from launch, %s)",
		p50, p99, plural(polls, "GET", "GETs"))}}
	if len(poll) > 1 && p50 == p99 {
		rows = append(rows, [2]string{"", fmt.Sprintf("one number: these jobs end at the same point of a poll interval, so each waits alike; "+
			"over job lengths spread evenly, a 5 s loop waits %s at p50 and nearly %s at p99", fmtDur(pollInterval/2), fmtDur(pollInterval))})
	}
	return rows
}

// plural is "1 attempt", "2 attempts".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// schemeName describes a dynamic signing scheme for the launch lines.
func schemeName(s signing.Scheme) string {
	if s == signing.SchemeJWT {
		return "JWT, RS256"
	}
	return "v1a, Ed25519"
}

// percentile is the nearest-rank percentile of ds; 0 for none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
}

// routeNote says how an event was routed: by its user_metadata, or to the
// registered webhook when it has none.
func routeNote(ev *event.Event) string {
	if len(ev.UserMetadata) == 0 {
		return "registered webhook, no user_metadata"
	}
	route, _ := ev.UserMetadata["route"].(string)
	if route == "" {
		return "user_metadata " + formatMetadata(ev.UserMetadata)
	}
	rest := make(map[string]any, len(ev.UserMetadata))
	for k, v := range ev.UserMetadata {
		if k != "route" {
			rest[k] = v
		}
	}
	return "routed to " + printable(route) + " by user_metadata (" + formatMetadata(rest) + ")"
}

// shortID keeps long job IDs readable in a line: an operation by its own
// name, anything else cut to 24 characters.
func shortID(id string) string {
	if i := strings.LastIndex(id, "/operations/"); i >= 0 {
		id = id[i+1:]
	}
	if len(id) <= 24 {
		return printable(id)
	}
	return printable(id[:21]) + "..."
}

// demoOutput writes the demo's lines, with a redrawn status line below them
// when it writes to a terminal.
type demoOutput struct {
	mu       sync.Mutex
	w        io.Writer
	live     bool
	status   func() string
	stop     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
}

func newDemoOutput(w io.Writer, live bool) *demoOutput {
	return &demoOutput{w: w, live: live}
}

// clearLocked erases the status line; o.mu is held.
func (o *demoOutput) clearLocked() {
	if o.live && o.status != nil {
		fmt.Fprint(o.w, "\r\033[K")
	}
}

func (o *demoOutput) drawLocked() {
	if o.live && o.status != nil {
		fmt.Fprint(o.w, o.status())
	}
}

func (o *demoOutput) println(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearLocked()
	fmt.Fprintln(o.w, s)
	o.drawLocked()
}

func (o *demoOutput) step(n int, format string, a ...any) {
	o.println(fmt.Sprintf("[%d/6] %s", n, fmt.Sprintf(format, a...)))
}

func (o *demoOutput) detail(format string, a ...any) {
	o.println("      " + fmt.Sprintf(format, a...))
}

func (o *demoOutput) header() {
	o.println(fmt.Sprintf("      %-7s %-28s %-24s %-6s %-9s %s", "AT", "TYPE", "JOB", "SCHEME", "PUSH", "ROUTING"))
}

func (o *demoOutput) event(at time.Duration, ev *event.Event, scheme, note string, push time.Duration) {
	o.println(fmt.Sprintf("      %-7s %-28s %-24s %-6s %-9s %s",
		fmt.Sprintf("+%.2fs", at.Seconds()), printable(string(ev.Type)), shortID(ev.JobID), schemeOrDash(scheme), fmtDur(push), note))
}

// startProgress redraws the status line every 100 ms on a terminal; it
// does nothing on plain output.
func (o *demoOutput) startProgress(status func() string) {
	if !o.live {
		return
	}
	o.mu.Lock()
	o.status = status
	o.stop, o.stopped = make(chan struct{}), make(chan struct{})
	o.drawLocked()
	o.mu.Unlock()
	go func() {
		defer close(o.stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
				o.mu.Lock()
				o.clearLocked()
				o.drawLocked()
				o.mu.Unlock()
			}
		}
	}()
}

func (o *demoOutput) stopProgress() {
	o.mu.Lock()
	started := o.stop != nil
	o.mu.Unlock()
	if !started {
		return
	}
	o.stopOnce.Do(func() {
		close(o.stop)
		<-o.stopped
		o.mu.Lock()
		o.clearLocked()
		o.status = nil
		o.mu.Unlock()
	})
}
