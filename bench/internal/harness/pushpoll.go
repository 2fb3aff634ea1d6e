package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	geminihooks "github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
	"google.golang.org/genai"
)

// Approach is how an app learns of completions: push, or polling at one interval.
type Approach struct {
	Name     string
	Jobs     int
	Window   time.Duration   // completions were spread uniformly over this
	Delays   []time.Duration // completion (the emulator's job end time) -> the app knows, sorted
	Calls    int64           // API calls made to learn of completions (Get for polling)
	Requests int64           // HTTP requests of any kind the approach caused, creates excluded
	Interval time.Duration   // polling interval, 0 for push
}

// PushPollResult holds push against polling.
type PushPollResult struct {
	Approaches []Approach
}

// countingTransport counts requests by method and path shape.
type countingTransport struct {
	base  http.RoundTripper
	gets  atomic.Int64
	other atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet {
		c.gets.Add(1)
	} else {
		c.other.Add(1)
	}
	return c.base.RoundTrip(r)
}

func newClients(ctx context.Context, s *emulator.Server) (*genai.Client, *geminihooks.Client, *countingTransport, error) {
	ct := &countingTransport{base: &http.Transport{MaxIdleConnsPerHost: 1024}}
	gc, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey: s.APIKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.URL},
		HTTPClient:  &http.Client{Transport: ct},
	})
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := geminihooks.NewClient(gc, &geminihooks.Config{InsecureLoopbackHTTP: true})
	if err != nil {
		return nil, nil, nil, err
	}
	return gc, c, ct, nil
}

func createJobs(ctx context.Context, c *geminihooks.Client, n int, cb *geminihooks.Callback) ([]string, error) {
	names := make([]string, n)
	for i := range names {
		job, err := c.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{
			InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}},
		}, nil, cb)
		if err != nil {
			return nil, err
		}
		names[i] = job.Name
	}
	return names, nil
}

// finishAt completes each job at a uniformly random time within window, as the emulator's jobs would.
func finishAt(ctx context.Context, s *emulator.Server, names []string, window time.Duration, rng *rand.Rand) <-chan error {
	errc := make(chan error, 1)
	offsets := make([]time.Duration, len(names))
	for i := range offsets {
		offsets[i] = time.Duration(rng.Int64N(int64(window)))
	}
	go func() {
		start := time.Now()
		order := make([]int, len(names))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return int(offsets[a] - offsets[b]) })
		for _, i := range order {
			t := time.NewTimer(time.Until(start.Add(offsets[i])))
			select {
			case <-ctx.Done():
				t.Stop()
				errc <- ctx.Err()
				return
			case <-t.C:
			}
			if err := s.Finish(names[i], "succeeded"); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	return errc
}

// delays turns "known at" times into delays from each job's end time in the emulator.
func delays(s *emulator.Server, known map[string]time.Time) ([]time.Duration, error) {
	var ds []time.Duration
	for name, at := range known {
		j, err := s.Job(name)
		if err != nil {
			return nil, err
		}
		ds = append(ds, at.Sub(j.EndTime))
	}
	slices.Sort(ds)
	return ds, nil
}

func runPush(ctx context.Context, cfg Config, rng *rand.Rand) (Approach, error) {
	s, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true, ManualJobs: true})
	if err != nil {
		return Approach{}, err
	}
	defer s.Close()
	pubs, err := s.PublicKeys()
	if err != nil {
		return Approach{}, err
	}
	keys, err := staticKeys(pubs...)
	if err != nil {
		return Approach{}, err
	}
	v, err := signing.NewVerifier(&signing.Config{Keys: keys})
	if err != nil {
		return Approach{}, err
	}
	var (
		mu    sync.Mutex
		known = map[string]time.Time{}
		all   = make(chan struct{})
	)
	l, err := listener.New(v, nil)
	if err != nil {
		return Approach{}, err
	}
	listener.Handle(l, func(_ context.Context, e *event.Event, d *event.Batch) error {
		at := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if _, dup := known[e.JobID]; !dup {
			known[e.JobID] = at
			if len(known) == cfg.Jobs {
				close(all)
			}
		}
		return nil
	})
	var deliveries atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deliveries.Add(1)
		l.ServeHTTP(w, r)
	}))
	defer srv.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	_, c, _, err := newClients(ctx, s)
	if err != nil {
		return Approach{}, err
	}
	names, err := createJobs(ctx, c, cfg.Jobs, &geminihooks.Callback{URIs: []string{srv.URL}})
	if err != nil {
		return Approach{}, err
	}
	if err := <-finishAt(ctx, s, names, cfg.PushWindow, rng); err != nil {
		return Approach{}, err
	}
	wait, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	select {
	case <-all:
	case <-wait.Done():
		return Approach{}, fmt.Errorf("harness: push: %d of %d completions arrived", len(known), cfg.Jobs)
	}
	mu.Lock()
	ds, err := delays(s, known)
	mu.Unlock()
	return Approach{Name: "push (listener)", Jobs: cfg.Jobs, Window: cfg.PushWindow, Delays: ds,
		Calls: 0, Requests: deliveries.Load()}, err
}

// runPoll polls the same jobs at every interval in intervals at once: each interval is a separate app
// with its own client, each job's poller starting at a random phase, as if jobs were launched over time.
func runPoll(ctx context.Context, cfg Config, intervals []time.Duration, rng *rand.Rand) ([]Approach, error) {
	s, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true, ManualJobs: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	_, c, _, err := newClients(ctx, s)
	if err != nil {
		return nil, err
	}
	names, err := createJobs(ctx, c, cfg.Jobs, nil)
	if err != nil {
		return nil, err
	}
	type app struct {
		every time.Duration
		ct    *countingTransport
		mu    sync.Mutex
		known map[string]time.Time
	}
	apps := make([]*app, len(intervals))
	var wg sync.WaitGroup
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(intervals)*len(names))
	for k, every := range intervals {
		gc, _, ct, err := newClients(ctx, s)
		if err != nil {
			return nil, err
		}
		a := &app{every: every, ct: ct, known: map[string]time.Time{}}
		apps[k] = a
		for _, name := range names {
			phase := time.Duration(rng.Int64N(int64(every)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := time.NewTimer(phase)
				defer t.Stop()
				for {
					select {
					case <-pollCtx.Done():
						return
					case <-t.C:
					}
					job, err := gc.Batches.Get(pollCtx, name, nil)
					at := time.Now()
					if err != nil {
						if pollCtx.Err() == nil {
							errs <- err
						}
						return
					}
					if job.State == genai.JobStateSucceeded {
						a.mu.Lock()
						a.known[name] = at
						a.mu.Unlock()
						return
					}
					t.Reset(every)
				}
			}()
		}
	}
	if err := <-finishAt(ctx, s, names, cfg.PollWindow, rng); err != nil {
		return nil, err
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
		select {
		case err := <-errs:
			return nil, fmt.Errorf("harness: poll: %w", err)
		default:
		}
	case err := <-errs:
		cancel()
		<-allDone
		return nil, fmt.Errorf("harness: poll: %w", err)
	}
	var out []Approach
	for _, a := range apps {
		ds, err := delays(s, a.known)
		if err != nil {
			return nil, err
		}
		out = append(out, Approach{Name: fmt.Sprintf("polling Get every %v", a.every), Jobs: len(names), Window: cfg.PollWindow,
			Delays: ds, Calls: a.ct.gets.Load(), Requests: a.ct.gets.Load() + a.ct.other.Load(), Interval: a.every})
	}
	return out, nil
}

func runPushPoll(ctx context.Context, cfg Config, logf func(string, ...any)) (PushPollResult, error) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var res PushPollResult
	push, err := runPush(ctx, cfg, rng)
	if err != nil {
		return res, err
	}
	logf("push: %d jobs p50 %v p99 %v, %d deliveries", push.Jobs, quantile(push.Delays, 0.5), quantile(push.Delays, 0.99), push.Requests)
	res.Approaches = append(res.Approaches, push)
	polls, err := runPoll(ctx, cfg, cfg.PollIntervals, rng)
	if err != nil {
		return res, err
	}
	for _, p := range polls {
		logf("%s: %d jobs p50 %v p99 %v, %d Get calls", p.Name, p.Jobs, quantile(p.Delays, 0.5), quantile(p.Delays, 0.99), p.Calls)
	}
	res.Approaches = append(res.Approaches, polls...)
	return res, nil
}

// Push targets from the issue: p50 and p99 of completion -> app knows, on loopback.
const (
	pushP50Target = 5 * time.Millisecond
	pushP99Target = 25 * time.Millisecond
)

func (r PushPollResult) push() (Approach, bool) {
	for _, a := range r.Approaches {
		if a.Interval == 0 {
			return a, true
		}
	}
	return Approach{}, false
}

func (r PushPollResult) markdown() string {
	var b strings.Builder
	b.WriteString("Delay from a job's completion in the emulator (its end time) to the app knowing: for push, the listener's ")
	b.WriteString("handler running; for polling, a `genai` `Batches.Get` returning the succeeded state. ")
	b.WriteString("Calls: API calls made to learn of completions (polling: `Get`s). Push causes one webhook delivery per job and no API call; ")
	b.WriteString("both make one create call per job, not counted. All polling rows were measured with real timers, no time scaling: ")
	b.WriteString("every interval polled the same jobs at once, each job's poller starting at a random phase. ")
	b.WriteString("Push ran first on an emulator of its own; the polling apps then ran together on another.\n\n")
	var rows [][]string
	push, hasPush := r.push()
	for _, a := range r.Approaches {
		ratio := "-"
		if hasPush && a.Interval > 0 && quantile(push.Delays, 0.5) > 0 {
			ratio = fmt.Sprintf("%.0fx / %.0fx", float64(quantile(a.Delays, 0.5))/float64(quantile(push.Delays, 0.5)),
				float64(quantile(a.Delays, 0.99))/float64(quantile(push.Delays, 0.99)))
		}
		rows = append(rows, []string{a.Name, fmt.Sprint(a.Jobs), fmt.Sprint(a.Window), fmt.Sprint(len(a.Delays)),
			dur(float64(quantile(a.Delays, 0.5))), dur(float64(quantile(a.Delays, 0.99))), fmt.Sprint(a.Calls),
			fmt.Sprintf("%.1f", float64(a.Calls)/float64(max(a.Jobs, 1))), fmt.Sprint(a.Requests), ratio})
	}
	b.WriteString(table([]string{"approach", "jobs", "completions spread over", "known", "p50 delay", "p99 delay", "API calls", "calls/job", "requests", "vs push: p50 / p99"}, rows))
	b.WriteString("\nPolling as stated from first principles, beside the measurement: a completion waits for the job's next poll, ")
	b.WriteString("uniformly up to one interval, so p50 is interval/2 and p99 is 0.99 x interval (plus one round trip); ")
	b.WriteString("a job polled from its launch until it is seen done costs about its lifetime/interval + 1 calls, ")
	b.WriteString("and with completions uniform over the window its mean lifetime is half the window.\n\n")
	rows = rows[:0]
	for _, a := range r.Approaches {
		if a.Interval == 0 {
			continue
		}
		calls := float64(a.Window)/2/float64(a.Interval) + 1
		rows = append(rows, []string{a.Name, dur(float64(a.Interval) / 2), dur(float64(quantile(a.Delays, 0.5))),
			dur(0.99 * float64(a.Interval)), dur(float64(quantile(a.Delays, 0.99))),
			fmt.Sprintf("%.1f", calls), fmt.Sprintf("%.1f", float64(a.Calls)/float64(max(a.Jobs, 1)))})
	}
	b.WriteString(table([]string{"approach", "stated p50", "measured p50", "stated p99", "measured p99", "stated calls/job", "measured calls/job"}, rows))
	if hasPush {
		fmt.Fprintf(&b, "\n| target | measured | met |\n|---|---|---|\n| push p50 <= %v | %s | %s |\n| push p99 <= %v | %s | %s |\n",
			pushP50Target, dur(float64(quantile(push.Delays, 0.5))), yesNo(quantile(push.Delays, 0.5) <= pushP50Target),
			pushP99Target, dur(float64(quantile(push.Delays, 0.99))), yesNo(quantile(push.Delays, 0.99) <= pushP99Target))
	}
	return b.String()
}
