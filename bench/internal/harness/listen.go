package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ListenRow is one backend at one offered rate.
type ListenRow struct {
	Backend string
	LoadResult
}

// ListenResult holds the listener figures. Skipped names backends that could not run, with why.
type ListenResult struct {
	Rows     []ListenRow
	Skipped  map[string]string
	Duration time.Duration
	Slices   int
}

const bareBackend = "bare net/http 204"

// backend is a server under load: an http.Handler and what it takes to stop it.
type backend struct {
	name string
	open func(ctx context.Context) (http.Handler, func(), error)
}

func listenBackends(cfg Config, skipped map[string]string) []backend {
	bs := []backend{{bareBackend, func(context.Context) (http.Handler, func(), error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		}), func() {}, nil
	}}}
	withInbox := func(open func(ctx context.Context) (inbox.Inbox, func(), error)) func(ctx context.Context) (http.Handler, func(), error) {
		return func(ctx context.Context) (http.Handler, func(), error) {
			ib, closeIB, err := open(ctx)
			if err != nil {
				return nil, nil, err
			}
			v, err := signing.NewHMACVerifier([]string{sigSecret})
			if err != nil {
				closeIB()
				return nil, nil, err
			}
			l, err := listener.New(v, &listener.Config{Inbox: ib})
			if err != nil {
				closeIB()
				return nil, nil, err
			}
			l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error { return nil })
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				l.Run(runCtx)
			}()
			return l, func() { cancel(); <-done; closeIB() }, nil
		}
	}
	bs = append(bs, backend{"listener + inbox.Memory", withInbox(func(context.Context) (inbox.Inbox, func(), error) {
		ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 1 << 20})
		if err != nil {
			return nil, nil, err
		}
		return ib, func() { ib.Close() }, nil
	})})
	bs = append(bs, backend{boltBackend, withInbox(func(context.Context) (inbox.Inbox, func(), error) {
		dir, err := os.MkdirTemp("", "geminihooks-bench-*")
		if err != nil {
			return nil, nil, err
		}
		ib, err := boltinbox.Open(filepath.Join(dir, "inbox.db"), nil)
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		return ib, func() { ib.Close(); os.RemoveAll(dir) }, nil
	})})
	if cfg.Postgres == "" {
		skipped[pgBackend] = "no PostgreSQL URL (set GEMINIHOOKS_TEST_POSTGRES or -postgres)"
		return bs
	}
	if err := pingPostgres(cfg.Postgres); err != nil {
		skipped[pgBackend] = "PostgreSQL unreachable: " + err.Error()
		return bs
	}
	bs = append(bs, backend{pgBackend, withInbox(func(ctx context.Context) (inbox.Inbox, func(), error) {
		pool, err := pgxpool.New(ctx, cfg.Postgres)
		if err != nil {
			return nil, nil, err
		}
		var rnd [4]byte
		rand.Read(rnd[:])
		table := "geminihooks_bench_" + hex.EncodeToString(rnd[:])
		ib, err := pginbox.New(pool, &pginbox.Config{Table: table})
		if err == nil {
			err = ib.Migrate(ctx)
		}
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		return ib, func() {
			ib.Close()
			pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table)
			pool.Close()
		}, nil
	})})
	return bs
}

func pingPostgres(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pool.Ping(ctx)
}

// signedDelivery builds request i of a run: a batch.succeeded event with a fresh webhook-id, signed now.
func signedDelivery(url, run string, i int) (*http.Request, error) {
	now := time.Now()
	id := fmt.Sprintf("bench-%s-%d", run, i)
	body, err := event.Marshal(&event.BatchSucceeded{ID: fmt.Sprintf("batches/%s-%d", run, i), OutputFileURI: "files/out"}, now, nil)
	if err != nil {
		return nil, err
	}
	sig, err := signing.SignHMAC(sigSecret, id, now, body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderID, id)
	req.Header.Set(signing.HeaderTimestamp, signing.FormatTimestamp(now))
	req.Header.Set(signing.HeaderSignature, sig)
	return req, nil
}

func runListen(ctx context.Context, cfg Config, logf func(string, ...any)) (ListenResult, error) {
	res := ListenResult{Skipped: map[string]string{}, Duration: cfg.LoadDuration, Slices: max(cfg.LoadSlices, 1)}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: 30 * time.Second,
		},
	}
	defer client.CloseIdleConnections()
	turns := max(cfg.LoadSlices, 1)
	for _, rate := range cfg.Rates {
		// Every server for this rate is up at once, and the load visits them in turns of
		// LoadDuration/slices, rotating the order, so that on a shared machine a burst of someone
		// else's load does not land on one server's whole run.
		type live struct {
			b    backend
			url  string
			stop func()
			acc  LoadResult
		}
		var servers []*live
		closeAll := func() {
			client.CloseIdleConnections()
			for _, s := range servers {
				s.stop()
			}
		}
		for _, b := range listenBackends(cfg, res.Skipped) {
			h, stop, err := b.open(ctx)
			if err != nil {
				closeAll()
				return res, fmt.Errorf("harness: %s: %w", b.name, err)
			}
			srv := httptest.NewServer(h)
			servers = append(servers, &live{b: b, url: srv.URL, stop: func() { srv.Close(); stop() },
				acc: LoadResult{Rate: rate, Refused: map[int]int{}}})
		}
		n := max(int(rate*cfg.LoadDuration.Seconds())/turns, 1)
		for turn := range turns {
			for k := range servers {
				s := servers[(k+turn)%len(servers)]
				run := fmt.Sprintf("%s-%.0f-%d-%d", strings.Fields(s.b.name)[0], rate, turn, time.Now().UnixNano())
				lr, err := openLoop(ctx, client, rate, n, func(i int) (*http.Request, error) { return signedDelivery(s.url, run, i) })
				if err != nil {
					closeAll()
					return res, err
				}
				s.acc.merge(lr)
			}
		}
		closeAll()
		for _, s := range servers {
			slices.Sort(s.acc.Latencies)
			lr := s.acc
			logf("listen %s at %.0f/s: %d sent, %d ok, %d failed, %.0f/s, p50 %v p99 %v",
				s.b.name, rate, lr.Sent, lr.OK, lr.Failed, lr.Throughput(), lr.Quantile(0.5), lr.Quantile(0.99))
			res.Rows = append(res.Rows, ListenRow{Backend: s.b.name, LoadResult: lr})
		}
	}
	return res, nil
}

func (r ListenResult) row(backend string, rate float64) (ListenRow, bool) {
	for _, x := range r.Rows {
		if x.Backend == backend && x.Rate == rate {
			return x, true
		}
	}
	return ListenRow{}, false
}

// The durable inboxes' targets (issue 18), each against the bare handler
// measured in the same run at the same offered rate.
const (
	boltBackend = "listener + boltinbox"
	pgBackend   = "listener + pginbox"
)

// targets checks this run against the durable inboxes' targets and gives
// each one's worst case over the rates it covers. A target with no rate in
// its range measured is left out.
func (r ListenResult) targets() string {
	var rows [][]string
	// worst finds, over the rates up to upTo at which backend ran, the rate
	// where score is highest (worst), and whether every rate met ok.
	check := func(name, backend string, upTo float64, measure func(x, bare ListenRow) (score float64, shown string, ok bool)) {
		worst, shown, met, seen := 0.0, "", true, false
		for _, x := range r.Rows {
			if x.Backend != backend || x.Rate > upTo {
				continue
			}
			bare, ok := r.row(bareBackend, x.Rate)
			if !ok || bare.OK == 0 || x.OK == 0 {
				continue
			}
			score, s, good := measure(x, bare)
			met = met && good
			if !seen || score > worst {
				worst, shown, seen = score, fmt.Sprintf("%s at %.0f/s", s, x.Rate), true
			}
		}
		if seen {
			rows = append(rows, []string{name, "worst: " + shown, yesNo(met)})
		}
	}
	tput := func(min float64) func(x, bare ListenRow) (float64, string, bool) {
		return func(x, bare ListenRow) (float64, string, bool) {
			ratio := x.Throughput() / bare.Throughput()
			return -ratio, fmt.Sprintf("%.3f", ratio), ratio >= min
		}
	}
	p99 := func(limit func(bare ListenRow) time.Duration) func(x, bare ListenRow) (float64, string, bool) {
		return func(x, bare ListenRow) (float64, string, bool) {
			got, lim := x.Quantile(0.99), limit(bare)
			return float64(got) / float64(lim), fmt.Sprintf("%s (limit %s)", dur(float64(got)), dur(float64(lim))), got <= lim
		}
	}
	check("boltinbox throughput >= 0.98x bare, up to 6000/s", boltBackend, 6000, tput(0.98))
	check("boltinbox p99 ack <= max(3x bare p99, 15 ms), up to 4000/s", boltBackend, 4000, p99(func(bare ListenRow) time.Duration {
		return max(3*bare.Quantile(0.99), 15*time.Millisecond)
	}))
	for _, x := range r.Rows {
		if x.Backend == boltBackend && x.Rate == 250 {
			if bare, ok := r.row(bareBackend, 250); ok && bare.OK > 0 && x.OK > 0 {
				ratio := float64(x.Quantile(0.5)) / float64(bare.Quantile(0.5))
				rows = append(rows, []string{"boltinbox p50 ack <= 2x bare at 250/s", fmt.Sprintf("%.2f (%s vs %s)", ratio,
					dur(float64(x.Quantile(0.5))), dur(float64(bare.Quantile(0.5)))), yesNo(ratio <= 2)})
			}
		}
	}
	check("pginbox throughput >= 0.95x bare, up to 6000/s", pgBackend, 6000, tput(0.95))
	check("pginbox p99 ack <= 50 ms, up to 4000/s", pgBackend, 4000, p99(func(ListenRow) time.Duration { return 50 * time.Millisecond }))
	if len(rows) == 0 {
		return ""
	}
	return table([]string{"target", "measured", "met"}, rows) + "\n"
}

func (r ListenResult) markdown() string {
	var b strings.Builder
	b.WriteString(r.targets())
	fmt.Fprintf(&b, "Each cell: %v of open-loop load at the offered rate, on loopback, in %d turns rotating between the servers (all up at once, fresh per rate). ", r.Duration, r.Slices)
	b.WriteString("Latency is from each request's scheduled send time to its answer (no coordinated omission); ")
	b.WriteString("throughput is 2xx answers per second of wall time. Ratios are listener/bare at the same rate.\n\n")
	var rows [][]string
	for _, x := range r.Rows {
		ratio := "-"
		if x.Backend != bareBackend {
			if bare, ok := r.row(bareBackend, x.Rate); ok && x.OK > 0 && bare.Quantile(0.5) > 0 && bare.Quantile(0.99) > 0 && bare.Throughput() > 0 {
				ratio = fmt.Sprintf("%.2f / %.2f / %.2f", x.Throughput()/bare.Throughput(),
					float64(x.Quantile(0.5))/float64(bare.Quantile(0.5)), float64(x.Quantile(0.99))/float64(bare.Quantile(0.99)))
			}
		}
		rows = append(rows, []string{fmt.Sprintf("%.0f", x.Rate), x.Backend, fmt.Sprint(x.Sent), fmt.Sprint(x.OK), failures(x.LoadResult),
			fmt.Sprintf("%.0f", x.Throughput()), dur(float64(x.Quantile(0.5))), dur(float64(x.Quantile(0.99))), ratio})
	}
	b.WriteString(table([]string{"offered/s", "server", "sent", "2xx", "failed", "2xx/s", "p50 ack", "p99 ack", "vs bare: tput / p50 / p99"}, rows))
	for name, why := range r.Skipped {
		fmt.Fprintf(&b, "\n%s: skipped, %s.\n", name, why)
	}
	return b.String()
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
