package listener_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/metrics"
	"github.com/geminihooks/geminihooks/signing"
)

// The benchmarks compare the listener (memory inbox, no-op handler) with a
// bare net/http handler that drains the body and answers 204, both on
// loopback, driven by the same load generators in the same run:
//
//	go test -run '^$' -bench . -benchtime 20000x ./listener
//
// BenchmarkThroughput runs a closed loop (closedLoopConns connections, each
// sending its next request as soon as the last is answered) and reports
// requests per second for both and their ratio. BenchmarkLatency first
// measures the listener's closed-loop throughput, then drives the listener
// and the bare handler in turns at half that rate on a fixed schedule (open
// loop, see openLoop) and reports the ack latency percentiles of both;
// BenchmarkLatencyNoise does the same with two bare handlers, to show how
// far one run's ratio strays when nothing differs.

const closedLoopConns = 32

// benchTarget is a server under load.
type benchTarget struct {
	name   string
	srv    *httptest.Server
	client *http.Client
	l      *listener.Listener // nil for the bare handler
	ib     inbox.Inbox
	stop   func()
}

func newBareTarget() *benchTarget {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	return &benchTarget{name: "bare", srv: srv, client: benchClient(), stop: srv.Close}
}

func newListenerTarget(b *testing.B, secret string, o listener.Observer) *benchTarget {
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		b.Fatal(err)
	}
	ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 1 << 22})
	if err != nil {
		b.Fatal(err)
	}
	l := newListener(b, v, &listener.Config{Inbox: ib, Observer: o})
	l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	srv := httptest.NewServer(l)
	return &benchTarget{name: "listener", srv: srv, client: benchClient(), l: l, ib: ib, stop: func() {
		srv.Close()
		cancel()
		<-done
		ib.Close()
	}}
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        openLoopSenders,
		MaxIdleConnsPerHost: openLoopSenders,
		MaxConnsPerHost:     openLoopSenders,
		IdleConnTimeout:     time.Minute,
	}}
}

// signedRequest is a delivery prepared before the clock starts.
type signedRequest struct {
	body   []byte
	header http.Header
}

// prepare signs n deliveries with distinct webhook-ids, so every one is
// stored rather than answered as a duplicate.
func prepare(b testing.TB, secret, prefix string, n int) []signedRequest {
	now := time.Now()
	reqs := make([]signedRequest, n)
	for i := range reqs {
		id := fmt.Sprintf("%s_%d", prefix, i)
		body, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/" + id, OutputFileURI: "files/" + id}, now, nil)
		if err != nil {
			b.Fatal(err)
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if err := (signing.Signer{Secrets: []string{secret}}).Sign(h, id, now, body); err != nil {
			b.Fatal(err)
		}
		reqs[i] = signedRequest{body: body, header: h}
	}
	return reqs
}

// send posts one delivery and reports whether it got a 2xx.
func (t *benchTarget) send(r signedRequest) bool {
	req, err := http.NewRequest(http.MethodPost, t.srv.URL, bytes.NewReader(r.body))
	if err != nil {
		return false
	}
	req.Header = r.header
	resp, err := t.client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// closedLoop sends reqs over conns connections as fast as they are
// answered and returns the elapsed time and the number of non-2xx answers.
func (t *benchTarget) closedLoop(reqs []signedRequest, conns int) (time.Duration, int64) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for range conns {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(reqs)) {
					return
				}
				if !t.send(reqs[i]) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(begin), failed.Load()
}

// openLoopSenders bounds the open-loop generator's connections.
const openLoopSenders = 128

// openLoop sends reqs at a fixed rate whatever the answers: a pacer hands
// each request, when due, to a pool of openLoopSenders senders, so a slow
// answer does not delay later sends unless every sender is waiting. It
// returns each request's ack latency, from the moment the pacer released
// it (queueing for a sender included) to its answer, and how late the
// pacer released requests against the schedule. This machine's timers fire
// up to a millisecond late, so the pacer releases whatever is due each time
// it wakes; that lateness is the generator's, not the server's.
func (t *benchTarget) openLoop(reqs []signedRequest, rate float64) (lat, late []time.Duration, failed int64) {
	type job struct {
		i        int
		released time.Time
	}
	interval := time.Duration(float64(time.Second) / rate)
	lat = make([]time.Duration, len(reqs))
	late = make([]time.Duration, len(reqs))
	jobs := make(chan job, len(reqs))
	var nfailed atomic.Int64
	var wg sync.WaitGroup
	for range openLoopSenders {
		wg.Go(func() {
			for j := range jobs {
				if !t.send(reqs[j.i]) {
					nfailed.Add(1)
				}
				lat[j.i] = time.Since(j.released)
			}
		})
	}
	begin := time.Now()
	for i := range reqs {
		due := begin.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the generator, not synchronising a test
		}
		now := time.Now()
		late[i] = now.Sub(due)
		jobs <- job{i, now}
	}
	close(jobs)
	wg.Wait()
	return lat, late, nfailed.Load()
}

// drain waits until the listener's workers have handled everything.
func (t *benchTarget) drain(b *testing.B) time.Duration {
	begin := time.Now()
	if t.l == nil {
		return 0
	}
	for {
		if n, _ := t.ib.Depth(context.Background()); n == 0 {
			return time.Since(begin)
		}
		if time.Since(begin) > time.Minute {
			b.Fatal("the listener did not drain within a minute")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// warm opens connections so neither target pays for dialling in the run.
func (t *benchTarget) warm(b *testing.B, secret string) {
	t.closedLoop(prepare(b, secret, "warm_"+t.name, 4*closedLoopConns), closedLoopConns)
	t.drain(b)
}

func BenchmarkThroughput(b *testing.B) {
	secret := newSecret(b)
	bare, lis := newBareTarget(), newListenerTarget(b, secret, nil)
	defer bare.stop()
	defer lis.stop()
	bare.warm(b, secret)
	lis.warm(b, secret)
	reqs := prepare(b, secret, fmt.Sprintf("tp%d", b.N), b.N)

	// Alternate the targets in rounds, so a change in the machine's load
	// during the run weighs on both alike.
	const rounds = 4
	var bareTime, lisTime, drainTime time.Duration
	var bareFailed, lisFailed int64
	b.ResetTimer()
	for r := range rounds {
		chunk := reqs[r*len(reqs)/rounds : (r+1)*len(reqs)/rounds]
		runBare := func() {
			d, f := bare.closedLoop(chunk, closedLoopConns)
			bareTime, bareFailed = bareTime+d, bareFailed+f
		}
		runListener := func() {
			d, f := lis.closedLoop(chunk, closedLoopConns)
			lisTime, lisFailed = lisTime+d, lisFailed+f
			drainTime += lis.drain(b)
		}
		if r%2 == 0 {
			runBare()
			runListener()
		} else {
			runListener()
			runBare()
		}
	}
	b.StopTimer()

	if bareFailed+lisFailed > 0 {
		b.Fatalf("non-2xx answers: bare %d, listener %d", bareFailed, lisFailed)
	}
	bareRate := float64(b.N) / bareTime.Seconds()
	lisRate := float64(b.N) / lisTime.Seconds()
	b.ReportMetric(bareRate, "bare-req/s")
	b.ReportMetric(lisRate, "listener-req/s")
	b.ReportMetric(lisRate/bareRate, "ratio")
	b.ReportMetric(float64(b.N)/(lisTime+drainTime).Seconds(), "handled-req/s")
}

// BenchmarkMetricsOverhead pairs the listener without an observer and
// with the Prometheus observer (metrics.Metrics, also counting the inbox),
// alternating them in rounds, and reports the ratio of their closed-loop
// throughputs (1 = no cost):
//
//	go test -run '^$' -bench MetricsOverhead -benchtime 40000x -count 5 ./listener
func BenchmarkMetricsOverhead(b *testing.B) {
	secret := newSecret(b)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(&metrics.Config{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	plain, observed := newListenerTarget(b, secret, nil), newListenerTarget(b, secret, m.Observer())
	defer plain.stop()
	defer observed.stop()
	if err := m.WatchInbox(observed.ib.(inbox.Admin)); err != nil {
		b.Fatal(err)
	}
	plain.warm(b, secret)
	observed.warm(b, secret)
	reqs := prepare(b, secret, fmt.Sprintf("mo%d", b.N), b.N)

	const rounds = 16
	var plainTime, observedTime time.Duration
	b.ResetTimer()
	for r := range rounds {
		chunk := reqs[r*len(reqs)/rounds : (r+1)*len(reqs)/rounds]
		targets := []*benchTarget{plain, observed}
		if r%2 == 1 {
			targets[0], targets[1] = observed, plain
		}
		for _, t := range targets {
			d, failed := t.closedLoop(chunk, closedLoopConns)
			if failed > 0 {
				b.Fatalf("%d non-2xx answers", failed)
			}
			t.drain(b)
			if t == plain {
				plainTime += d
			} else {
				observedTime += d
			}
		}
	}
	b.StopTimer()
	if _, err := reg.Gather(); err != nil {
		b.Fatal(err)
	}
	plainRate := float64(b.N) / plainTime.Seconds()
	observedRate := float64(b.N) / observedTime.Seconds()
	b.ReportMetric(plainRate, "plain-req/s")
	b.ReportMetric(observedRate, "metrics-req/s")
	b.ReportMetric(observedRate/plainRate, "ratio")
}

// percentile returns the p-th quantile of ds in milliseconds; it sorts ds.
func percentile(ds []time.Duration, p float64) float64 {
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))]) / float64(time.Millisecond)
}

// calibrationRequests is how many requests measure the listener's
// closed-loop throughput before each latency run.
const calibrationRequests = 10000

// latencyRounds is how many turns each of the two targets gets in
// BenchmarkLatency.
const latencyRounds = 4

func BenchmarkLatency(b *testing.B) { benchLatency(b, false) }

// BenchmarkLatencyNoise runs BenchmarkLatency's measurement with a second
// bare handler in the listener's place, at the rate calibrated on the
// listener. Its p99-ratio is the spread of one run's ratio for two
// identical servers: a difference in BenchmarkLatency's ratio smaller than
// that spread says nothing.
func BenchmarkLatencyNoise(b *testing.B) { benchLatency(b, true) }

// benchLatency drives the listener (or, with noise set, a second bare
// handler) and the bare handler at half the listener's closed-loop
// throughput and reports their ack latency percentiles and the ratio of
// their p99s (listener over bare).
func benchLatency(b *testing.B, noise bool) {
	secret := newSecret(b)
	bare, lis := newBareTarget(), newListenerTarget(b, secret, nil)
	defer bare.stop()
	defer lis.stop()
	bare.warm(b, secret)
	lis.warm(b, secret)
	// Measure the listener's throughput just before the latency runs, so
	// that a change in the machine's load between the two matters little.
	d, failed := lis.closedLoop(prepare(b, secret, fmt.Sprintf("cal%d", b.N), calibrationRequests), closedLoopConns)
	lis.drain(b)
	if failed > 0 {
		b.Fatalf("%d non-2xx answers while calibrating", failed)
	}
	rate := calibrationRequests / d.Seconds() / 2
	first := lis
	if noise {
		first = newBareTarget()
		defer first.stop()
		first.warm(b, secret)
	}

	// The two take turns, in latencyRounds rounds that swap which goes
	// first, so that a pause of the machine's lands on both alike rather
	// than on one's whole run; the listener's workers finish each turn's
	// events before the next turn starts. Each turn's requests are signed
	// just before it: held for the whole run, b.N of them were most of the
	// live heap, and lengthened every collection in both servers' turns.
	var (
		firstLat, firstLate, bareLat, bareLate []time.Duration
		failedFirst, failedBare                int64
	)
	b.ResetTimer()
	for r := range latencyRounds {
		b.StopTimer()
		chunk := prepare(b, secret, fmt.Sprintf("lat%d_%d", b.N, r), (r+1)*b.N/latencyRounds-r*b.N/latencyRounds)
		b.StartTimer()
		for k := range 2 {
			if (k+r)%2 == 0 {
				lat, late, failed := first.openLoop(chunk, rate)
				first.drain(b)
				firstLat, firstLate, failedFirst = append(firstLat, lat...), append(firstLate, late...), failedFirst+failed
			} else {
				lat, late, failed := bare.openLoop(chunk, rate)
				bareLat, bareLate, failedBare = append(bareLat, lat...), append(bareLate, late...), failedBare+failed
			}
		}
	}
	b.StopTimer()

	if failedFirst+failedBare > 0 {
		b.Fatalf("non-2xx answers: %s %d, bare %d", first.name, failedFirst, failedBare)
	}
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(percentile(firstLat, 0.50), "p50-ms")
	b.ReportMetric(percentile(firstLat, 0.99), "p99-ms")
	b.ReportMetric(percentile(bareLat, 0.50), "bare-p50-ms")
	b.ReportMetric(percentile(bareLat, 0.99), "bare-p99-ms")
	b.ReportMetric(percentile(firstLat, 0.99)/percentile(bareLat, 0.99), "p99-ratio")
	b.ReportMetric(max(percentile(firstLate, 0.99), percentile(bareLate, 0.99)), "send-late-p99-ms")
}

// BenchmarkServeHTTP measures the listener's own work per delivery, without
// the network: the request path (read, verify, parse, store) plus, in the
// background, the worker's claim, parse, handler call and ack.
func BenchmarkServeHTTP(b *testing.B) { benchServeHTTP(b, nil) }

// BenchmarkServeHTTPOverhead measures the same cost as
// BenchmarkMetricsOverhead without the network: ServeHTTP called directly
// on a listener without an observer and on one with the Prometheus
// observer, alternating in chunks of 500 requests (each chunk timed with
// its handler runs), so that load from elsewhere on the machine weighs on
// both alike. It reports the time per request of each and their ratio:
//
//	go test -run '^$' -bench ServeHTTPOverhead -benchtime 200000x -count 5 ./listener
func BenchmarkServeHTTPOverhead(b *testing.B) {
	secret := newSecret(b)
	m, err := metrics.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	plain, observed := newListenerTarget(b, secret, nil), newListenerTarget(b, secret, m.Observer())
	defer plain.stop()
	defer observed.stop()
	reqs := prepare(b, secret, fmt.Sprintf("so%d", b.N), b.N)
	const chunk = 500
	var took [2]time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i, n := 0, 0; i < len(reqs); i, n = i+chunk, n+1 {
		part := reqs[i:min(i+chunk, len(reqs))]
		order := [2]int{0, 1}
		if n%2 == 1 {
			order = [2]int{1, 0}
		}
		for _, k := range order {
			t := []*benchTarget{plain, observed}[k]
			start := time.Now()
			for _, r := range part {
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(r.body))
				req.Header = r.header
				rec := httptest.NewRecorder()
				t.l.ServeHTTP(rec, req)
				if rec.Code != http.StatusAccepted && rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
			t.drain(b)
			took[k] += time.Since(start)
		}
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(took[0]), "plain-ns/req")
	b.ReportMetric(per(took[1]), "metrics-ns/req")
	b.ReportMetric(per(took[0])/per(took[1]), "ratio")
}

func benchServeHTTP(b *testing.B, o listener.Observer) {
	secret := newSecret(b)
	t := newListenerTarget(b, secret, o)
	defer t.stop()
	reqs := prepare(b, secret, fmt.Sprintf("sh%d", b.N), b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(reqs[i].body))
		req.Header = reqs[i].header
		rec := httptest.NewRecorder()
		t.l.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d", rec.Code)
		}
	}
	t.drain(b)
}
