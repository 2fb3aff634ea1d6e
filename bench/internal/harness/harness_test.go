package harness

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/internal/nonblocking"
	"github.com/google/go-cmp/cmp"
)

func TestSplice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, want string
		sections        []Section
		wantErr         bool
	}{
		{
			name: "appends missing sections with markers",
			doc:  "# B\n\nprose\n", sections: []Section{{"a", "one"}},
			want: "# B\n\nprose\n\n<!-- bench:a:begin -->\none\n<!-- bench:a:end -->\n",
		},
		{
			name:     "replaces in place and keeps prose on both sides",
			doc:      "top\n<!-- bench:a:begin -->\nold\nold\n<!-- bench:a:end -->\nbottom\n",
			sections: []Section{{"a", "new\n\n"}},
			want:     "top\n<!-- bench:a:begin -->\nnew\n<!-- bench:a:end -->\nbottom\n",
		},
		{
			name:     "leaves other sections alone",
			doc:      "<!-- bench:a:begin -->\nA\n<!-- bench:a:end -->\n<!-- bench:b:begin -->\nB\n<!-- bench:b:end -->\n",
			sections: []Section{{"b", "B2"}},
			want:     "<!-- bench:a:begin -->\nA\n<!-- bench:a:end -->\n<!-- bench:b:begin -->\nB2\n<!-- bench:b:end -->\n",
		},
		{name: "begin without end", doc: "<!-- bench:a:begin -->\nA\n", sections: []Section{{"a", "x"}}, wantErr: true},
		{
			name:     "section twice",
			doc:      "<!-- bench:a:begin -->\n<!-- bench:a:end -->\n<!-- bench:a:begin -->\n<!-- bench:a:end -->\n",
			sections: []Section{{"a", "x"}}, wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Splice(tt.doc, tt.sections)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Splice error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("Splice (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	var xs []time.Duration
	for i := 1; i <= 100; i++ {
		xs = append(xs, time.Duration(i))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := quantile(xs, tt.q); got != tt.want {
			t.Errorf("quantile(1..100, %v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %v, want 0", got)
	}
}

// TestOpenLoopCountsFromSchedule checks the generator against a server that stalls one request: the
// stall must not hold back later sends (open loop), and every request is accounted for.
func TestOpenLoopCountsFromSchedule(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-N") == "0" {
			<-release // held until every other request has arrived
		} else if seen.Add(1) == 9 {
			close(release)
		}
		if r.Header.Get("X-N") == "5" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	// A closed-loop generator would wait on request 0 forever; the deadline turns that into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := openLoop(ctx, srv.Client(), 1000, 10, func(i int) (*http.Request, error) {
		r, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
		if err == nil {
			r.Header.Set("X-N", string(rune('0'+i)))
		}
		return r, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 10 || res.OK != 9 || res.Failed != 1 || len(res.Latencies) != 9 {
		t.Errorf("sent %d ok %d failed %d latencies %d, want 10 9 1 9", res.Sent, res.OK, res.Failed, len(res.Latencies))
	}
	for i := 1; i < len(res.Latencies); i++ {
		if res.Latencies[i] < res.Latencies[i-1] {
			t.Fatal("latencies not sorted")
		}
	}
	if res.Throughput() <= 0 {
		t.Errorf("throughput %v, want > 0", res.Throughput())
	}
}

func TestChartSVGIsWellFormed(t *testing.T) {
	t.Parallel()
	for _, c := range []Chart{
		{Title: "a <&> b", LogX: true, YMax: 1, Series: []Series{{Name: "s&1", Points: []Point{{0, 0}, {0.3, 0.5}, {12, 1}}}}},
		{Title: "linear", Series: []Series{{Name: "x", Points: []Point{{250, 240}, {500, 480}}}, {Name: "empty"}}},
		{Title: "no data"},
	} {
		svg := c.SVG()
		if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
			t.Errorf("%q: not well-formed XML: %v", c.Title, err)
		}
		if len(c.Series) > 0 && len(c.Series[0].Points) > 0 && !strings.Contains(svg, "<polyline") {
			t.Errorf("%q: no line drawn", c.Title)
		}
	}
}

// listenRow makes a row of 100 requests, ok of them answered, with the given
// p50 and p99, in run 0 (a result's only run).
func listenRow(backend string, rate float64, ok int, p50, p99 time.Duration) ListenRow {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = p50
	}
	lat[98], lat[99] = p99, p99
	return ListenRow{Backend: backend, LoadResult: LoadResult{Rate: rate, Sent: 100, OK: ok, Elapsed: time.Second, Latencies: lat}}
}

// TestListenTargets checks the durable inboxes' targets against made-up
// rows: each met or not as the rule says, judged at its worst rate.
func TestListenTargets(t *testing.T) {
	t.Parallel()
	row := listenRow
	ms := time.Millisecond
	r := ListenResult{Rows: []ListenRow{
		row(bareBackend, 250, 100, ms, 2*ms),
		row(boltBackend, 250, 100, 3*ms, 5*ms), // p50 3x bare: not met
		row(pgBackend, 250, 100, 2*ms, 10*ms),
		row(bareBackend, 4000, 100, ms, 10*ms),
		row(boltBackend, 4000, 99, 2*ms, 29*ms), // p99 under 3x bare (30 ms); tput 0.99
		row(pgBackend, 4000, 90, 2*ms, 60*ms),   // tput 0.90 and p99 60 ms: neither met
		row(bareBackend, 8000, 100, ms, 10*ms),
		row(boltBackend, 8000, 10, ms, time.Second), // beyond every target's range
	}}
	got := r.targets()
	for _, want := range []string{
		"| boltinbox throughput >= 0.98x bare, up to 6000/s | worst: 0.990 at 4000/s | yes |",
		"| boltinbox p99 ack <= max(3x bare p99, 15 ms), up to 4000/s | worst: 29 ms (limit 30 ms) at 4000/s | yes |",
		"| boltinbox p50 ack <= 2x bare at 250/s | 3.00 (3 ms vs 1 ms) | **no** |",
		"| pginbox throughput >= 0.95x bare, up to 6000/s | worst: 0.900 at 4000/s | **no** |",
		"| pginbox p99 ack <= 50 ms, up to 4000/s | worst: 60 ms (limit 50 ms) at 4000/s | **no** |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack %q:\n%s", want, got)
		}
	}
}

// TestListenTargetsOverRuns checks that with several runs each run gets its
// column, judged against its own bare rows, and a target is met only when
// every run met it.
func TestListenTargetsOverRuns(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	in := func(run int, x ListenRow) ListenRow { x.Run = run; return x }
	r := ListenResult{Rows: []ListenRow{
		in(1, listenRow(bareBackend, 250, 100, ms, 2*ms)),
		in(1, listenRow(boltBackend, 250, 100, ms, 5*ms)),
		in(1, listenRow(bareBackend, 2000, 100, ms, 10*ms)),
		in(1, listenRow(boltBackend, 2000, 100, ms, 20*ms)),
		// Run 2's bare handler is slower: bolt's p99 limit is 3x its 10 ms at 250/s.
		in(2, listenRow(bareBackend, 250, 100, ms, 10*ms)),
		in(2, listenRow(boltBackend, 250, 100, 3*ms, 25*ms)),
		in(2, listenRow(bareBackend, 2000, 100, ms, 10*ms)),
		in(2, listenRow(boltBackend, 2000, 97, ms, 40*ms)),
	}}
	got := r.targets()
	for _, want := range []string{
		"| target | run 1 | run 2 | met in every run |",
		"| boltinbox throughput >= 0.98x bare, up to 6000/s | worst: 1.000 at 250/s: yes | worst: 0.970 at 2000/s: **no** | **no** |",
		"| boltinbox p99 ack <= max(3x bare p99, 15 ms), up to 4000/s | worst: 20 ms (limit 30 ms) at 2000/s: yes | worst: 40 ms (limit 30 ms) at 2000/s: **no** | **no** |",
		"| boltinbox p50 ack <= 2x bare at 250/s | 1.00 (1 ms vs 1 ms): yes | 3.00 (3 ms vs 1 ms): **no** | **no** |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "pginbox") {
		t.Errorf("targets judge pginbox, which no run measured:\n%s", got)
	}
	if md := r.markdown(); !strings.Contains(md, "| 2 | 2000 | listener + boltinbox | 100 | 97 |") {
		t.Errorf("the table has no run column:\n%s", md)
	}
}

// TestHandlersMarkdown checks the handlers table: an inbox a row, a worker
// count a column, events per second in each cell, "-" where nothing ran.
func TestHandlersMarkdown(t *testing.T) {
	t.Parallel()
	r := HandlersResult{Events: 1000, Rows: []HandlerRow{
		{Inbox: memoryStore, Workers: 1, Events: 1000, Elapsed: 10 * time.Millisecond},
		{Inbox: memoryStore, Workers: 8, Events: 1000, Elapsed: 5 * time.Millisecond},
		{Inbox: boltStore, Workers: 1, Events: 1000, Elapsed: 2 * time.Second},
	}, Skipped: map[string]string{pgStore: "no PostgreSQL URL"}}
	got := r.markdown()
	for _, want := range []string{
		"| inbox | 1 worker | 8 workers |",
		"| inbox.Memory | 100000/s (10 ms) | 200000/s (5 ms) |",
		"| boltinbox | 500/s (2 s) | - |",
		"pginbox: skipped, no PostgreSQL URL.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("handlers markdown lacks %q:\n%s", want, got)
		}
	}
}

// TestStoredTargets checks the growth targets against made-up rows: each
// durable inbox's most events stored against its fewest, throughput at
// least 0.8x and p99 at most 1.2x.
func TestStoredTargets(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	stored := func(name string, n, ok int, p99 time.Duration) StoredRow {
		return StoredRow{Inbox: name, Stored: n, LoadResult: listenRow("", 2000, ok, ms, p99).LoadResult}
	}
	r := GrowthResult{Stored: []StoredRow{
		stored(boltStore, 1e3, 100, 10*ms),
		stored(boltStore, 1e5, 100, 30*ms), // between: not judged
		stored(boltStore, 1e6, 85, 12*ms),
		stored(pgStore, 1e3, 100, 10*ms),
		stored(pgStore, 1e6, 75, 13*ms),
	}}
	got := r.storedTargets()
	for _, want := range []string{
		"| boltinbox 2xx/s with 10^6 stored >= 0.8x with 10^3 stored | 0.850 (85/s vs 100/s) | yes |",
		"| boltinbox p99 ack with 10^6 stored <= 1.2x with 10^3 stored | 1.20 (12 ms vs 10 ms) | yes |",
		"| pginbox 2xx/s with 10^6 stored >= 0.8x with 10^3 stored | 0.750 (75/s vs 100/s) | **no** |",
		"| pginbox p99 ack with 10^6 stored <= 1.2x with 10^3 stored | 1.30 (13 ms vs 10 ms) | **no** |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack %q:\n%s", want, got)
		}
	}
	one := GrowthResult{Stored: []StoredRow{stored(boltStore, 1e3, 100, ms)}}
	if got := one.storedTargets(); got != "" {
		t.Errorf("one count judged against itself:\n%s", got)
	}
}

func TestLabels(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{1e3: "10^3", 1e6: "10^6", 100: "10^2", 2000: "2000", 1: "1", 0: "0"} {
		if got := countLabel(n); got != want {
			t.Errorf("countLabel(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int]string{1 << 10: "1 KiB", 20 << 10: "20 KiB", 1 << 20: "1 MiB", 1500: "1500 B"} {
		if got := bytesize(n); got != want {
			t.Errorf("bytesize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestDeliverySize checks that a padded delivery is exactly the size asked
// for and still an event the listener takes.
func TestDeliverySize(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1 << 10, 20 << 10, 1 << 20} {
		_, body, err := delivery("size", 7, time.Now(), size)
		if err != nil {
			t.Fatal(err)
		}
		if size > 0 && len(body) != size {
			t.Errorf("delivery of %d bytes is %d", size, len(body))
		}
		ev, err := event.Parse(body)
		if err != nil || ev.Type != event.TypeBatchSucceeded || ev.JobID != "batches/size-7" {
			t.Errorf("delivery of %d bytes parses as %+v, %v", size, ev, err)
		}
	}
}

// TestSettleWaitsForTheHandlers checks that a turn ends only once the server's inbox is empty, so that
// its backlog is not charged to the next server, and that a backlog that never drains is an error.
func TestSettleWaitsForTheHandlers(t *testing.T) {
	left := 3
	s := server{depth: func(context.Context) (int, error) {
		left--
		return max(left, 0), nil
	}}
	if err := settle(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if left > 0 {
		t.Errorf("settle returned with %d events left", left)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	stuck := server{depth: func(context.Context) (int, error) { return 1, nil }}
	if err := settle(ctx, stuck); err == nil {
		t.Error("settle returned nil with an event never handled")
	}
}

// TestStoresFilter checks that -inboxes picks the stores measured, and that pginbox left out by choice is
// not reported as skipped.
func TestStoresFilter(t *testing.T) {
	names := func(ss []store) (n []string) {
		for _, s := range ss {
			n = append(n, s.name)
		}
		return n
	}
	ss, noPG := stores(Config{})
	if got := names(ss); !slices.Equal(got, []string{memoryStore, boltStore}) || noPG == "" {
		t.Errorf("no filter, no PostgreSQL: %v, %q; want memory and bolt, and why pginbox is missing", got, noPG)
	}
	ss, noPG = stores(Config{Inboxes: []string{boltStore}})
	if got := names(ss); !slices.Equal(got, []string{boltStore}) || noPG != "" {
		t.Errorf("-inboxes boltinbox: %v, %q; want bolt alone and no skip note", got, noPG)
	}
}

// TestListenRowTimesTheCountedPuts checks that a listener's row carries one timed Put per request of its
// counted turns, none of the warm-up's, and that the bare handler's carries none.
func TestListenRowTimesTheCountedPuts(t *testing.T) {
	client := loadClient()
	defer client.CloseIdleConnections()
	bs := listenBackends(Config{Inboxes: []string{memoryStore}}, map[string]string{}, listenerSetup{})
	rows, err := loadServers(t.Context(), client, bs, load{rate: 2000, dur: 200 * time.Millisecond, turns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows; want the bare handler's and the listener's", len(rows))
	}
	for _, x := range rows {
		want := x.Sent
		if x.Backend == bareBackend {
			want = 0
		}
		if len(x.Puts) != want || x.Sent == 0 {
			t.Errorf("%s: %d Puts timed for %d requests sent; want %d", x.Backend, len(x.Puts), x.Sent, want)
		}
		if !slices.IsSorted(x.Puts) {
			t.Errorf("%s: Puts not sorted", x.Backend)
		}
	}
}

// TestMidLoadRunsOnceInTheMiddleTurn checks that a server's midLoad runs once, while its middle turn's
// load is on: after the warm-up and the first turn were answered, before the last turn began.
func TestMidLoadRunsOnceInTheMiddleTurn(t *testing.T) {
	client := loadClient()
	defer client.CloseIdleConnections()
	var (
		served atomic.Int64
		at     []int64
	)
	bs := []backend{{"counting", func(context.Context) (server, error) {
		return server{
			h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				served.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}),
			stop:    func() {},
			midLoad: func() { at = append(at, served.Load()) },
		}, nil
	}}}
	const rate, turns, perTurn = 2000, 3, 200 // 100 ms a turn
	rows, err := loadServers(t.Context(), client, bs, load{rate: rate, dur: turns * perTurn * time.Second / rate, turns: turns})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Sent != turns*perTurn {
		t.Fatalf("%d requests counted; want %d", rows[0].Sent, turns*perTurn)
	}
	// The warm-up sends one turn's worth.
	if len(at) != 1 || at[0] < 2*perTurn || at[0] > 3*perTurn {
		t.Errorf("midLoad ran with %v requests answered; want once, between %d and %d", at, 2*perTurn, 3*perTurn)
	}
}

// Timing a memory inbox's Puts keeps it marked as never blocking, so the memory row measures the listener
// as a memory inbox's users get it; any other inbox stays unmarked. Puts are timed either way.
func TestTimedKeepsTheMemoryInboxMark(t *testing.T) {
	t.Parallel()
	mem, err := inbox.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	for _, c := range []struct {
		name   string
		ib     inbox.Inbox
		marked bool
	}{
		{"memory", mem, true},
		{"wrapped memory", struct{ inbox.Inbox }{mem}, false},
	} {
		ib, puts := timed(c.ib)
		if got := nonblocking.Is(ib); got != c.marked {
			t.Errorf("%s: timed inbox marked %v; want %v", c.name, got, c.marked)
		}
		if _, err := ib.Put(t.Context(), &inbox.Message{ID: c.name, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if n := len(puts.take()); n != 1 {
			t.Errorf("%s: %d Puts timed; want 1", c.name, n)
		}
	}
}
