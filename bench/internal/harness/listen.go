package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/internal/nonblocking"
	"github.com/geminihooks/geminihooks/signing"
)

// ListenRow is one backend at one offered rate in one run.
type ListenRow struct {
	Run     int // 1 to Config.Runs
	Backend string
	LoadResult
	// Puts are the listener's inbox Put calls during the counted turns, timed inside the server, sorted;
	// none for the bare handler. Against the ack latency they tell the inbox's share from HTTP's and the
	// scheduler's.
	Puts []time.Duration
}

// ListenResult holds the listener figures. Skipped names backends that could not run, with why.
type ListenResult struct {
	Rows     []ListenRow
	Skipped  map[string]string
	Duration time.Duration
	Slices   int
}

const bareBackend = "bare net/http 204"

// backend is a server under load.
type backend struct {
	name string
	open func(ctx context.Context) (server, error)
}

// server is a running backend: its handler, what stops it, and, for a listener, its inbox's depth.
type server struct {
	h     http.Handler
	stop  func()
	depth func(ctx context.Context) (int, error) // nil: nothing runs after the answer
	puts  *putTimer                              // nil: no inbox
	// midLoad, if set, runs once while the server is under load: halfway through its middle turn.
	midLoad func()
}

// putTimer times an inbox's Put calls.
type putTimer struct {
	inbox.Inbox
	mu    sync.Mutex
	times []time.Duration
}

func (p *putTimer) Put(ctx context.Context, m *inbox.Message) (bool, error) {
	start := time.Now()
	stored, err := p.Inbox.Put(ctx, m)
	d := time.Since(start)
	p.mu.Lock()
	p.times = append(p.times, d)
	p.mu.Unlock()
	return stored, err
}

// timed wraps ib in a putTimer. A memory inbox stays marked as one that never blocks, as timing its Put
// does not make it wait, so that the listener treats it as it treats an unwrapped memory inbox (no store
// timeout timer, inline acks) and the row measures what users of the memory inbox get.
func timed(ib inbox.Inbox) (inbox.Inbox, *putTimer) {
	puts := &putTimer{Inbox: ib}
	if nonblocking.Is(ib) {
		return struct {
			*putTimer
			nonblocking.Mark
		}{puts, nonblocking.Mark{}}, puts
	}
	return puts, puts
}

// take returns the Puts timed since the last take.
func (p *putTimer) take() []time.Duration {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.times
	p.times = nil
	return t
}

// listenBackends returns the bare handler and a listener over each inbox, set up as s says. A store that
// cannot run is noted in skipped under its backend's name.
func listenBackends(cfg Config, skipped map[string]string, s listenerSetup) []backend {
	bs := []backend{{bareBackend, func(context.Context) (server, error) {
		return server{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		}), stop: func() {}}, nil
	}}}
	ss, noPG := stores(cfg)
	if noPG != "" {
		skipped[pgBackend] = noPG
	}
	for _, st := range ss {
		bs = append(bs, backend{"listener + " + st.name, func(ctx context.Context) (server, error) {
			ib, closeIB, err := st.open(ctx)
			if err != nil {
				return server{}, err
			}
			timedIB, puts := timed(ib)
			l, stop, err := serve(ctx, timedIB, func(context.Context, *event.Event) error { return nil }, s)
			if err != nil {
				closeIB()
				return server{}, err
			}
			return server{h: l, stop: func() { stop(); closeIB() }, depth: ib.Depth, puts: puts}, nil
		}})
	}
	return bs
}

// delivery is delivery i of a run: a batch.succeeded event for a job of its own, with a fresh webhook-id.
// A size above its natural size pads the event's user metadata until the body is size bytes.
func delivery(run string, i int, now time.Time, size int) (id string, body []byte, err error) {
	id = fmt.Sprintf("bench-%s-%d", run, i)
	d := &event.Batch{Type: event.TypeBatchSucceeded, ID: fmt.Sprintf("batches/%s-%d", run, i), OutputFileURI: "files/out"}
	body, err = event.Marshal(d, now, nil)
	if err != nil || len(body) >= size {
		return id, body, err
	}
	meta := map[string]any{"pad": ""}
	if body, err = event.Marshal(d, now, meta); err != nil || len(body) >= size {
		return id, body, err
	}
	meta["pad"] = strings.Repeat("x", size-len(body))
	body, err = event.Marshal(d, now, meta)
	return id, body, err
}

// signedDelivery builds request i of a run, of size bytes (0: as small as it comes), signed now.
func signedDelivery(url, run string, i, size int) (*http.Request, error) {
	now := time.Now()
	id, body, err := delivery(run, i, now, size)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := (signing.Signer{Secrets: []string{sigSecret}}).Sign(req.Header, id, now, body); err != nil {
		return nil, err
	}
	return req, nil
}

func runListen(ctx context.Context, cfg Config, logf func(string, ...any)) (ListenResult, error) {
	res := ListenResult{Skipped: map[string]string{}, Duration: cfg.LoadDuration, Slices: max(cfg.LoadSlices, 1)}
	client := loadClient()
	defer client.CloseIdleConnections()
	runs := max(cfg.Runs, 1)
	for run := 1; run <= runs; run++ {
		for _, rate := range cfg.Rates {
			ld := load{rate: rate, dur: cfg.LoadDuration, turns: cfg.LoadSlices, pg: cfg.Postgres}
			rows, err := loadPasses(ctx, client, listenBackends(cfg, res.Skipped, listenerSetup{}), ld)
			if err != nil {
				return res, err
			}
			for _, x := range rows {
				x.Run = run
				logf("listen run %d/%d: %s at %.0f/s: %d sent, %d ok, %d failed, %.0f/s, p50 %v p99 %v; Put p50 %v p99 %v",
					run, runs, x.Backend, rate, x.Sent, x.OK, x.Failed, x.Throughput(), x.Quantile(0.5), x.Quantile(0.99),
					quantile(x.Puts, 0.5), quantile(x.Puts, 0.99))
				res.Rows = append(res.Rows, x)
			}
		}
	}
	return res, nil
}

// loadClient is the load generator's HTTP client: enough idle connections that an open-loop burst does
// not dial afresh for every request.
func loadClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: 30 * time.Second,
		},
	}
}

// load is how loadServers drives its servers.
type load struct {
	rate  float64       // requests a second
	dur   time.Duration // per server, in turns
	turns int
	size  int    // body bytes; 0: as small as they come
	pg    string // the PostgreSQL the harness uses, if any, checkpointed before each warm-up
}

// loadPasses runs loadServers over bs, but for pginbox, which gets a pass of its own after the others. A
// listener runs over one store, and PostgreSQL goes on working after pginbox's turns (its WAL writer,
// autovacuum and checkpoints), on the disk and the two cores the other servers use: beside pginbox, the
// bare handler's p99 at 4,000/s doubled and boltinbox's tripled.
func loadPasses(ctx context.Context, client *http.Client, bs []backend, ld load) ([]ListenRow, error) {
	var (
		rest, pg []backend
		rows     []ListenRow
	)
	for _, b := range bs {
		if b.name == pgBackend {
			pg = append(pg, b)
		} else {
			rest = append(rest, b)
		}
	}
	for _, pass := range [][]backend{rest, pg} {
		if len(pass) == 0 {
			continue
		}
		r, err := loadServers(ctx, client, pass, ld)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// loadServers drives every backend with signed deliveries of ld.size bytes at ld.rate for ld.dur, and
// returns a row per backend, in order. Every server is up at once, fresh, and the load visits them in
// turns of dur/turns, rotating the order, so that on a shared machine a burst of someone else's load does
// not land on one server's whole run.
func loadServers(ctx context.Context, client *http.Client, bs []backend, ld load) ([]ListenRow, error) {
	rate, turns, size := ld.rate, ld.turns, ld.size
	type live struct {
		b    backend
		srv  server
		url  string
		acc  LoadResult
		puts []time.Duration
	}
	var servers []*live
	defer func() {
		client.CloseIdleConnections()
		for _, s := range servers {
			s.srv.stop()
		}
	}()
	for _, b := range bs {
		srv, err := b.open(ctx)
		if err != nil {
			return nil, fmt.Errorf("harness: %s: %w", b.name, err)
		}
		hs := httptest.NewServer(srv.h)
		stop := srv.stop
		srv.stop = func() { hs.Close(); stop() }
		servers = append(servers, &live{b: b, srv: srv, url: hs.URL, acc: LoadResult{Rate: rate, Refused: map[int]int{}}})
	}
	turns = max(turns, 1)
	n := max(int(rate*ld.dur.Seconds())/turns, 1)
	if err := checkpointPG(ctx, ld.pg); err != nil {
		return nil, err
	}
	// A fresh server's first moments (connections dialled, a heap and a file growing from nothing)
	// are not its steady state: a turn of warmWork requests, at the rate but not counted, precedes
	// the measurement.
	for _, s := range servers {
		run := fmt.Sprintf("warm-%.0f-%d", rate, time.Now().UnixNano())
		if _, err := openLoop(ctx, client, rate, min(n, warmWork), func(i int) (*http.Request, error) { return signedDelivery(s.url, run, i, size) }); err != nil {
			return nil, err
		}
		if err := settle(ctx, s.srv); err != nil {
			return nil, fmt.Errorf("harness: %s: %w", s.b.name, err)
		}
		s.srv.puts.take()
	}
	for turn := range turns {
		for k := range servers {
			s := servers[(k+turn)%len(servers)]
			run := fmt.Sprintf("%s-%.0f-%d-%d", strings.Fields(s.b.name)[0], rate, turn, time.Now().UnixNano())
			var mid *midRun
			lr, err := openLoop(ctx, client, rate, n, func(i int) (*http.Request, error) {
				if i == n-1 && turn == turns/2 && s.srv.midLoad != nil {
					// openLoop builds every request before its clock starts: the load begins now.
					mid = startMid(s.srv.midLoad, time.Duration(float64(n)/rate*float64(time.Second))/2)
				}
				return signedDelivery(s.url, run, i, size)
			})
			mid.wait()
			if err != nil {
				return nil, err
			}
			s.acc.merge(lr)
			s.puts = append(s.puts, s.srv.puts.take()...)
			if err := settle(ctx, s.srv); err != nil {
				return nil, fmt.Errorf("harness: %s: %w", s.b.name, err)
			}
		}
	}
	var rows []ListenRow
	for _, s := range servers {
		slices.Sort(s.acc.Latencies)
		slices.Sort(s.puts)
		rows = append(rows, ListenRow{Backend: s.b.name, LoadResult: s.acc, Puts: s.puts})
	}
	return rows, nil
}

// midRun is a server's midLoad, due at a time in a turn.
type midRun struct {
	t    *time.Timer
	done chan struct{}
}

func startMid(fn func(), after time.Duration) *midRun {
	m := &midRun{done: make(chan struct{})}
	m.t = time.AfterFunc(after, func() {
		defer close(m.done)
		fn()
	})
	return m
}

// wait waits for the run to end, if it began; one not yet due by the end of the turn is not run.
func (m *midRun) wait() {
	if m != nil && !m.t.Stop() {
		<-m.done
	}
}

// settle waits until s has handled every event it stored, then collects the garbage, so that the next
// turn, often another server's, starts on a machine its predecessor no longer loads: neither its
// workers' backlog nor its garbage is charged to the next server's latency.
func settle(ctx context.Context, s server) error {
	if s.depth != nil {
		ctx, cancel := context.WithTimeout(ctx, drainTimeout)
		defer cancel()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			n, err := s.depth(ctx)
			if err != nil {
				return fmt.Errorf("waiting for the handlers to drain: %w", err)
			}
			if n == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("handlers still had %d events to handle: %w", n, context.Cause(ctx))
			case <-tick.C:
			}
		}
	}
	runtime.GC()
	return nil
}

// warmWork is the most requests a server gets before it is measured.
const warmWork = 1000

// drainTimeout bounds settle. The slowest handlers measured drain about 1,000 events a second, and a
// turn stores at most a few tens of thousands.
const drainTimeout = 2 * time.Minute

func (r ListenResult) row(run int, backend string, rate float64) (ListenRow, bool) {
	for _, x := range r.Rows {
		if x.Run == run && x.Backend == backend && x.Rate == rate {
			return x, true
		}
	}
	return ListenRow{}, false
}

// runs lists the run numbers in r, in order.
func (r ListenResult) runs() []int {
	var ns []int
	for _, x := range r.Rows {
		if !slices.Contains(ns, x.Run) {
			ns = append(ns, x.Run)
		}
	}
	slices.Sort(ns)
	return ns
}

const (
	boltBackend = "listener + " + boltStore
	pgBackend   = "listener + " + pgStore
)

// listenTarget is one of the durable inboxes' targets (issue 18), each
// against the bare handler measured in the same run at the same offered
// rate. judge looks at one run: it gives the figure to show and whether the
// target was met, or ok false when the run measured nothing it covers.
type listenTarget struct {
	name  string
	judge func(r ListenResult, run int) (shown string, met, ok bool)
}

var listenTargets = []listenTarget{
	{"boltinbox throughput >= 0.98x bare, up to 6000/s", worstRate(boltBackend, 6000, tputAtLeast(0.98))},
	{"boltinbox p99 ack <= max(3x bare p99, 15 ms), up to 4000/s", worstRate(boltBackend, 4000, p99AtMost(func(bare ListenRow) time.Duration {
		return max(3*bare.Quantile(0.99), 15*time.Millisecond)
	}))},
	{"boltinbox p50 ack <= 2x bare at 250/s", p50Ratio(boltBackend, 250, 2)},
	{"pginbox throughput >= 0.95x bare, up to 6000/s", worstRate(pgBackend, 6000, tputAtLeast(0.95))},
	{"pginbox p99 ack <= 50 ms, up to 4000/s", worstRate(pgBackend, 4000, p99AtMost(func(ListenRow) time.Duration { return 50 * time.Millisecond }))},
}

// measure judges backend's row x against the bare row at its rate: score
// orders the rates (highest is worst), shown is the figure.
type measure func(x, bare ListenRow) (score float64, shown string, met bool)

// worstRate judges every rate up to upTo at which backend and the bare
// handler both answered, shows the worst, and is met when every rate is.
func worstRate(backend string, upTo float64, m measure) func(ListenResult, int) (string, bool, bool) {
	return func(r ListenResult, run int) (string, bool, bool) {
		worst, shown, met, seen := 0.0, "", true, false
		for _, x := range r.Rows {
			if x.Run != run || x.Backend != backend || x.Rate > upTo {
				continue
			}
			bare, ok := r.row(run, bareBackend, x.Rate)
			if !ok || bare.OK == 0 || x.OK == 0 {
				continue
			}
			score, s, good := m(x, bare)
			met = met && good
			if !seen || score > worst {
				worst, shown, seen = score, fmt.Sprintf("worst: %s at %.0f/s", s, x.Rate), true
			}
		}
		return shown, met, seen
	}
}

func tputAtLeast(min float64) measure {
	return func(x, bare ListenRow) (float64, string, bool) {
		ratio := x.Throughput() / bare.Throughput()
		return -ratio, fmt.Sprintf("%.3f", ratio), ratio >= min
	}
}

func p99AtMost(limit func(bare ListenRow) time.Duration) measure {
	return func(x, bare ListenRow) (float64, string, bool) {
		got, lim := x.Quantile(0.99), limit(bare)
		return float64(got) / float64(lim), fmt.Sprintf("%s (limit %s)", dur(float64(got)), dur(float64(lim))), got <= lim
	}
}

// p50Ratio is met when backend's p50 at rate is at most limit times the
// bare handler's.
func p50Ratio(backend string, rate, limit float64) func(ListenResult, int) (string, bool, bool) {
	return func(r ListenResult, run int) (string, bool, bool) {
		x, ok := r.row(run, backend, rate)
		bare, okBare := r.row(run, bareBackend, rate)
		if !ok || !okBare || x.OK == 0 || bare.OK == 0 {
			return "", false, false
		}
		ratio := float64(x.Quantile(0.5)) / float64(bare.Quantile(0.5))
		return fmt.Sprintf("%.2f (%s vs %s)", ratio, dur(float64(x.Quantile(0.5))), dur(float64(bare.Quantile(0.5)))), ratio <= limit, true
	}
}

// targets checks the runs against the durable inboxes' targets: a column per
// run with each target's worst case over the rates it covers, and met only
// when met in every run. A target that no run measured is left out.
func (r ListenResult) targets() string {
	runs := r.runs()
	header := []string{"target", "measured", "met"}
	if len(runs) > 1 {
		header = []string{"target"}
		for _, n := range runs {
			header = append(header, fmt.Sprintf("run %d", n))
		}
		header = append(header, "met in every run")
	}
	var rows [][]string
	for _, t := range listenTargets {
		row, all, any := []string{t.name}, true, false
		for _, n := range runs {
			shown, met, ok := t.judge(r, n)
			all, any = all && ok && met, any || ok
			switch {
			case !ok:
				shown = "-"
			case len(runs) > 1:
				shown += ": " + yesNo(met)
			}
			row = append(row, shown)
		}
		if any {
			rows = append(rows, append(row, yesNo(all)))
		}
	}
	if len(rows) == 0 {
		return ""
	}
	return table(header, rows) + "\n"
}

func (r ListenResult) markdown() string {
	var b strings.Builder
	b.WriteString(r.targets())
	fmt.Fprintf(&b, "Each cell: %v of open-loop load at the offered rate, on loopback, in %d turns rotating between the servers (all up at once, fresh per rate). ", r.Duration, r.Slices)
	fmt.Fprintf(&b, "Each server first gets up to %d requests at the rate, not counted, to warm up. ", warmWork)
	b.WriteString("After every turn the harness waits until the server's handlers have taken every stored event, so that no backlog of one server runs during another's turn. ")
	b.WriteString("pginbox runs in a pass of its own after the others, since PostgreSQL's background work (WAL, vacuum, checkpoints) would otherwise load their turns; its targets compare with the bare handler's pass at the same rate. ")
	b.WriteString("Latency is from each request's scheduled send time to its answer (no coordinated omission); ")
	b.WriteString("throughput is 2xx answers per second of wall time. Put: the listener's inbox Put calls of the same turns, timed inside the server (the rest of an ack is HTTP and scheduling). Ratios are listener/bare at the same rate")
	runs := r.runs()
	if len(runs) > 1 {
		fmt.Fprintf(&b, " in the same run. The whole measurement ran %d times, one after another; the charts show run %d", len(runs), runs[0])
	}
	b.WriteString(".\n\n")
	header := []string{"offered/s", "server", "sent", "2xx", "failed", "2xx/s", "p50 ack", "p99 ack", "Put p50 / p99", "vs bare: tput / p50 / p99"}
	if len(runs) > 1 {
		header = append([]string{"run"}, header...)
	}
	var rows [][]string
	for _, x := range r.Rows {
		bare, _ := r.row(x.Run, bareBackend, x.Rate)
		row := append([]string{fmt.Sprintf("%.0f", x.Rate), x.Backend}, loadCells(x.LoadResult)...)
		row = append(row, putCells(x.Puts), vsBare(x, bare))
		if len(runs) > 1 {
			row = append([]string{fmt.Sprint(x.Run)}, row...)
		}
		rows = append(rows, row)
	}
	b.WriteString(table(header, rows))
	for name, why := range r.Skipped {
		fmt.Fprintf(&b, "\n%s: skipped, %s.\n", name, why)
	}
	return b.String()
}

// loadCells are a load's columns: sent, 2xx, failed, 2xx/s, p50 ack, p99 ack.
func loadCells(x LoadResult) []string {
	return []string{fmt.Sprint(x.Sent), fmt.Sprint(x.OK), failures(x), fmt.Sprintf("%.0f", x.Throughput()),
		dur(float64(x.Quantile(0.5))), dur(float64(x.Quantile(0.99)))}
}

// putCells is "p50 / p99" of the timed Puts, or "-" without any.
func putCells(puts []time.Duration) string {
	if len(puts) == 0 {
		return "-"
	}
	return dur(float64(quantile(puts, 0.5))) + " / " + dur(float64(quantile(puts, 0.99)))
}

// vsBare compares a listener's row with the bare handler's, "tput / p50 / p99", or "-" for the bare
// handler itself or when either has nothing to compare.
func vsBare(x, bare ListenRow) string {
	if x.Backend == bareBackend || x.OK == 0 || bare.Quantile(0.5) <= 0 || bare.Quantile(0.99) <= 0 || bare.Throughput() <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f", x.Throughput()/bare.Throughput(),
		float64(x.Quantile(0.5))/float64(bare.Quantile(0.5)), float64(x.Quantile(0.99))/float64(bare.Quantile(0.99)))
}

// failures spells out why requests failed: refusals by status, and transport errors.
func failures(r LoadResult) string {
	if r.Failed == 0 {
		return "0"
	}
	var parts []string
	for code, n := range r.Refused {
		parts = append(parts, fmt.Sprintf("%d x %d", n, code))
	}
	sort.Strings(parts)
	if r.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%d timed out or cut", r.Errors))
	}
	return strings.Join(parts, ", ")
}
