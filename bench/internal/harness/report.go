package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config selects the parts of a run and their sizes.
type Config struct {
	Sig, Listen, Handlers, Growth, PushPoll bool

	Rates        []float64     // offered load for the listener, requests per second
	Runs         int           // times the whole listener measurement is repeated; 0 is once
	LoadDuration time.Duration // per rate and server
	LoadSlices   int           // turns each server's LoadDuration is split into, rotating between servers
	Postgres     string        // PostgreSQL URL for pginbox; "" skips that row
	Inboxes      []string      // inboxes to measure, by the names the report gives them; nil is all

	HandlerEvents  int   // events stored before the handlers part starts a listener
	HandlerWorkers []int // listener worker counts the handlers part measures

	Bodies     []BodyLoad // growth: body sizes, each offered at its own rate for LoadDuration
	Stored     []int      // growth: done events stored before a load, each count in a fresh inbox
	StoredRate float64    // growth: the rate offered with events stored

	Jobs          int             // jobs for push and for polling
	PushWindow    time.Duration   // push: completions spread uniformly over this
	PollWindow    time.Duration   // polling: completions spread uniformly over this
	PollIntervals []time.Duration // polling intervals measured side by side

	BenchTime time.Duration // testing.Benchmark's -test.benchtime
	Commit    string        // names the tree measured in the report, e.g. a git commit
	Logf      func(format string, args ...any)
}

// Full is the configuration behind the figures in BENCHMARKS.md.
func Full() Config {
	return Config{
		Sig: true, Listen: true, Handlers: true, Growth: true, PushPoll: true,
		Rates: []float64{250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000}, LoadDuration: 4 * time.Second, LoadSlices: 4,
		Postgres:      os.Getenv("GEMINIHOOKS_TEST_POSTGRES"),
		HandlerEvents: 20000, HandlerWorkers: []int{1, 8, 32},
		Bodies: []BodyLoad{{1 << 10, 1000}, {20 << 10, 1000}, {1 << 20, 50}},
		Stored: []int{1e3, 1e5, 1e6}, StoredRate: 2000,
		Jobs: 200, PushWindow: 10 * time.Second, PollWindow: 30 * time.Second,
		PollIntervals: []time.Duration{time.Second, 5 * time.Second},
		BenchTime:     time.Second,
	}
}

// Quick is a smoke test of every part in a few seconds; its figures mean nothing.
func Quick() Config {
	return Config{
		Sig: true, Listen: true, Handlers: true, Growth: true, PushPoll: true,
		Rates: []float64{200}, LoadDuration: 250 * time.Millisecond, LoadSlices: 1,
		Postgres:      os.Getenv("GEMINIHOOKS_TEST_POSTGRES"),
		HandlerEvents: 200, HandlerWorkers: []int{1, 8, 32},
		Bodies: []BodyLoad{{1 << 10, 200}, {20 << 10, 200}, {1 << 20, 20}},
		Stored: []int{1e2, 1e3}, StoredRate: 200,
		Jobs: 10, PushWindow: 200 * time.Millisecond, PollWindow: 300 * time.Millisecond,
		PollIntervals: []time.Duration{100 * time.Millisecond, 250 * time.Millisecond},
		BenchTime:     5 * time.Millisecond,
	}
}

// Result is everything one run measured.
type Result struct {
	Machine  Machine
	Command  string
	Sig      *SigResult
	Listen   *ListenResult
	Handlers *HandlersResult
	Growth   *GrowthResult
	PushPoll *PushPollResult
}

// Run measures the selected parts, in order, in this process. The caller sets testing's benchtime flag
// (see cmd/report) since testing.Benchmark reads it.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	res := &Result{Machine: readMachine(time.Now())}
	res.Machine.Commit = cfg.Commit
	logf("machine: %d CPUs, %s, load %s", res.Machine.NProc, res.Machine.CPU, res.Machine.LoadStart)
	if cfg.Sig {
		r, err := runSig(logf)
		if err != nil {
			return nil, err
		}
		res.Sig = &r
	}
	if cfg.Listen {
		r, err := runListen(ctx, cfg, logf)
		if err != nil {
			return nil, err
		}
		res.Listen = &r
	}
	if cfg.Handlers {
		r, err := runHandlers(ctx, cfg, logf)
		if err != nil {
			return nil, err
		}
		res.Handlers = &r
	}
	if cfg.Growth {
		r, err := runGrowth(ctx, cfg, logf)
		if err != nil {
			return nil, err
		}
		res.Growth = &r
	}
	if cfg.PushPoll {
		r, err := runPushPoll(ctx, cfg, logf)
		if err != nil {
			return nil, err
		}
		res.PushPoll = &r
	}
	res.Machine.End = time.Now()
	res.Machine.LoadEnd = loadAvg()
	return res, nil
}

// Chart files, relative to the repository root; BENCHMARKS.md links them.
const (
	ChartLatency    = "docs/bench-latency-cdf.svg"
	ChartThroughput = "docs/bench-throughput.svg"
	ChartPushPoll   = "docs/bench-push-poll-cdf.svg"
)

// Sections renders the generated parts of BENCHMARKS.md.
func (r *Result) Sections() []Section {
	var s []Section
	machine := r.Machine.Markdown()
	if r.Command != "" {
		machine = "Command, from `bench/`:\n\n```sh\n" + r.Command + "\n```\n\n" + machine
	}
	s = append(s, Section{Name: "machine", Body: machine})
	if r.Sig != nil {
		s = append(s, Section{Name: "signatures", Body: r.Sig.markdown()})
	}
	if r.Listen != nil {
		body := r.Listen.markdown() + fmt.Sprintf("\n![ack latency CDF](%s)\n\n![throughput against offered rate](%s)\n", ChartLatency, ChartThroughput)
		s = append(s, Section{Name: "listener", Body: body})
	}
	if r.Handlers != nil {
		s = append(s, Section{Name: "handlers", Body: r.Handlers.markdown()})
	}
	if r.Growth != nil {
		s = append(s, Section{Name: "growth", Body: r.Growth.markdown()})
	}
	if r.PushPoll != nil {
		s = append(s, Section{Name: "pushpoll", Body: r.PushPoll.markdown() + fmt.Sprintf("\n![push and polling delay CDF](%s)\n", ChartPushPoll)})
	}
	return s
}

// Charts renders the SVG charts, keyed by their path relative to the repository root.
func (r *Result) Charts() map[string]string {
	out := map[string]string{}
	if r.Listen != nil && len(r.Listen.Rows) > 0 {
		// The charts show the first run.
		var rows []ListenRow
		for _, x := range r.Listen.Rows {
			if x.Run == r.Listen.Rows[0].Run {
				rows = append(rows, x)
			}
		}
		// The CDF at the highest rate that every server sustained in full shows the tails of a
		// working system; past it, the figures are the overload's.
		rate := rows[0].Rate
		for _, x := range rows {
			sustained := true
			for _, y := range rows {
				if y.Rate == x.Rate && (y.Failed > 0 || y.Throughput() < 0.95*y.Rate) {
					sustained = false
				}
			}
			if sustained {
				rate = max(rate, x.Rate)
			}
		}
		cdf := Chart{Title: fmt.Sprintf("Ack latency CDF at %.0f requests/s (loopback)", rate), XLabel: "latency (ms, log scale)", YLabel: "fraction of requests", LogX: true, YMax: 1}
		tput := Chart{Title: "Throughput against offered rate (loopback)", XLabel: "offered requests/s", YLabel: "2xx answers/s"}
		var order []string
		series := map[string]*Series{}
		for _, x := range rows {
			if _, ok := series[x.Backend]; !ok {
				order = append(order, x.Backend)
				series[x.Backend] = &Series{Name: x.Backend}
			}
			series[x.Backend].Points = append(series[x.Backend].Points, Point{x.Rate, x.Throughput()})
			if x.Rate == rate {
				cdf.Series = append(cdf.Series, Series{Name: x.Backend, Points: cdfPoints(x.Latencies)})
			}
		}
		for _, name := range order {
			tput.Series = append(tput.Series, *series[name])
		}
		out[ChartLatency] = cdf.SVG()
		out[ChartThroughput] = tput.SVG()
	}
	if r.PushPoll != nil {
		c := Chart{Title: "Completion to app knows: push and polling", XLabel: "delay (ms, log scale)", YLabel: "fraction of jobs", LogX: true, YMax: 1}
		for _, a := range r.PushPoll.Approaches {
			c.Series = append(c.Series, Series{Name: a.Name, Points: cdfPoints(a.Delays)})
		}
		out[ChartPushPoll] = c.SVG()
	}
	return out
}

// cdfPoints samples a sorted latency list as (milliseconds, fraction) at most 200 points.
func cdfPoints(sorted []time.Duration) []Point {
	n := len(sorted)
	step := max(n/200, 1)
	var pts []Point
	for i := 0; i < n; i += step {
		pts = append(pts, Point{float64(sorted[i]) / 1e6, float64(i+1) / float64(n)})
	}
	if n > 0 {
		pts = append(pts, Point{float64(sorted[n-1]) / 1e6, 1})
	}
	return pts
}

// Write splices the sections into the Markdown file at mdPath and writes the charts under root.
func (r *Result) Write(mdPath, root string) error {
	doc, err := os.ReadFile(mdPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	out, err := Splice(string(doc), r.Sections())
	if err != nil {
		return err
	}
	for rel, svg := range r.Charts() {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(svg), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(mdPath, []byte(strings.TrimLeft(out, "\n")), 0o644)
}
