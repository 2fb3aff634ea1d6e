package faulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

var full = flag.Bool("faulttest.full", false, "run every scenario at full size (slow); the default is the CI size")

// size picks the CI or the full figure.
func size(ci, fullSize int) int {
	if *full {
		return fullSize
	}
	return ci
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		crashHelper()
		return
	}
	flag.Parse()
	os.Exit(m.Run())
}

// ledger is the ground truth of a scenario: what the sender sent and had acknowledged, and how many
// times each event was processed. lost counts acknowledged events never processed.
type ledger struct {
	mu        sync.Mutex
	sent      map[string]bool
	acked     map[string]bool
	processed map[string]int
}

func newLedger() *ledger {
	return &ledger{sent: map[string]bool{}, acked: map[string]bool{}, processed: map[string]int{}}
}

func (l *ledger) send(id string) { l.mu.Lock(); l.sent[id] = true; l.mu.Unlock() }
func (l *ledger) ack(id string)  { l.mu.Lock(); l.acked[id] = true; l.mu.Unlock() }
func (l *ledger) process(id string) {
	l.mu.Lock()
	l.processed[id]++
	l.mu.Unlock()
}

func (l *ledger) isAcked(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked[id]
}

// unprocessed counts acknowledged events not processed yet.
func (l *ledger) unprocessed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id := range l.acked {
		if l.processed[id] == 0 {
			n++
		}
	}
	return n
}

type counts struct{ sent, acked, processed, twice, lost int }

func (l *ledger) counts() (counts, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := counts{sent: len(l.sent), acked: len(l.acked)}
	var lost []string
	for _, n := range l.processed {
		if n > 0 {
			c.processed++
		}
		if n > 1 {
			c.twice++
		}
	}
	for id := range l.acked {
		if l.processed[id] == 0 {
			lost = append(lost, id)
		}
	}
	sort.Strings(lost)
	c.lost = len(lost)
	return c, lost
}

// finish logs the scenario's line and fails the test if anything acknowledged was lost, or if the
// sender gave up on something (Gemini retries for 24 hours: every scenario's sender outlasts its fault).
func (l *ledger) finish(t *testing.T, scenario string) counts {
	t.Helper()
	c, lost := l.counts()
	t.Logf("faulttest %s: sent=%d acked=%d processed=%d processed_twice=%d lost=%d", scenario, c.sent, c.acked, c.processed, c.twice, c.lost)
	if c.lost != 0 {
		t.Errorf("%s: %d acknowledged events were never processed, e.g. %q", scenario, c.lost, lost[:min(len(lost), 5)])
	}
	if c.acked != c.sent {
		t.Errorf("%s: the sender got %d of %d events acknowledged", scenario, c.acked, c.sent)
	}
	return c
}

// waitFor polls an observable condition until it holds or the deadline passes: for outcomes that
// happen in another process or on a worker goroutine, with nothing to wait on but the result itself.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// waitDrained waits until remaining() is 0, for as long as it keeps falling: it fails only when
// remaining() has not fallen for stall. It is for backlogs whose size the scenario sets and whose
// drain rate the machine does (a loaded machine drains hundreds of events at a few dozen a second),
// where a fixed deadline fails on a slow run with nothing wrong; what it catches is an event that
// stops moving, such as one stuck in a lease.
func waitDrained(t *testing.T, stall time.Duration, what string, remaining func() int) {
	t.Helper()
	start := time.Now()
	last, lastMove := remaining(), time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for last > 0 {
		<-tick.C
		n := remaining()
		switch {
		case n < last:
			last, lastMove = n, time.Now()
		case time.Since(lastMove) > stall:
			t.Fatalf("waiting for %s: %d left, none done in the last %v", what, n, stall)
		}
	}
	t.Logf("%s: drained in %v", what, time.Since(start).Round(time.Millisecond))
}

func newSecret(t testing.TB) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// delivery is one event as Gemini would send it: the webhook-id stays the same across retries.
type delivery struct {
	id   string
	body []byte
}

func deliveries(t testing.TB, prefix string, n int, ts time.Time) []delivery {
	t.Helper()
	ds := make([]delivery, n)
	for i := range ds {
		body, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: fmt.Sprintf("batches/%s-%d", prefix, i), OutputFileURI: "files/out"}, ts, nil)
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = delivery{id: fmt.Sprintf("%s-%d", prefix, i), body: body}
	}
	return ds
}

// signer produces a webhook-signature value for one attempt.
type signer func(id string, ts time.Time, body []byte) (string, error)

func hmacSigner(secret string) signer {
	return signatureBy(signing.Signer{Secrets: []string{secret}})
}

// signatureBy returns the signer whose value is the webhook-signature s signs
// an attempt with.
func signatureBy(s signing.Signer) signer {
	return func(id string, ts time.Time, body []byte) (string, error) {
		h := http.Header{}
		if err := s.Sign(h, id, ts, body); err != nil {
			return "", err
		}
		return h.Get(signing.HeaderSignature), nil
	}
}

// post makes one delivery attempt, signed at ts (Gemini signs each retry afresh), and returns the status.
func post(ctx context.Context, c *http.Client, url string, d delivery, sign signer, ts time.Time) (int, error) {
	sig, err := sign(d.id, ts, d.body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderID, d.id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(signing.HeaderSignature, sig)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func ok2xx(code int) bool { return code/100 == 2 }

// sendRound makes one attempt for every delivery not yet acknowledged, concurrently, and records the
// acknowledgements. It returns the status counts of the round, for scenarios that check what was
// refused while a fault lasted. Rounds stand in for Gemini's retry schedule where the scenario drives
// the fault step by step.
func sendRound(t *testing.T, l *ledger, c *http.Client, url string, ds []delivery, sign signer, now func() time.Time) map[int]int {
	t.Helper()
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 16)
	)
	for _, d := range ds {
		if l.isAcked(d.id) {
			continue
		}
		l.send(d.id)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			code, err := post(context.Background(), c, url, d, sign, now())
			if err != nil {
				code = -1
			}
			if ok2xx(code) {
				l.ack(d.id)
			}
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return statuses
}

func allAcked(l *ledger, ds []delivery) bool {
	for _, d := range ds {
		if !l.isAcked(d.id) {
			return false
		}
	}
	return true
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func postgresURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("GEMINIHOOKS_TEST_POSTGRES")
	if u == "" {
		t.Skip("GEMINIHOOKS_TEST_POSTGRES is unset: PostgreSQL scenarios skipped")
	}
	return u
}

// poolConns is the pool size the scenarios give a pginbox: the listener's
// workers plus the inbox's shared-statement runners need more than
// pgxpool's default on a small machine, where a starved pool turns into
// 503s under load.
const poolConns = 24

// newPool opens a pool of poolConns connections.
func newPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = poolConns
	return pgxpool.NewWithConfig(ctx, cfg)
}

func tableName(t *testing.T) string {
	r := strings.NewReplacer("/", "_", "-", "_", " ", "_")
	key := make([]byte, 4)
	rand.Read(key)
	name := strings.ToLower(r.Replace(t.Name()))
	name = strings.TrimPrefix(name, "test")
	return fmt.Sprintf("ft_%s_%x", name[:min(len(name), 30)], key) // pginbox allows 52 bytes
}
