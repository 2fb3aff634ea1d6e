package inboxtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/inbox"
)

// start is the suite's clock reading when each subtest opens its inbox.
var start = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

// lease is the lease duration the suite claims with unless a test needs
// another.
const lease = 30 * time.Second

// notifyWait bounds how long the suite waits for a Notify signal; stores
// that notify through a database may deliver it asynchronously.
const notifyWait = 5 * time.Second

// Run runs the conformance suite of [inbox.Inbox] and [inbox.Admin]. Each
// subtest calls open for a new, empty inbox that reads time only from clock,
// and registers its own cleanup (Close, dropping storage) with t.Cleanup;
// the suite may itself call Close first. Subtests run one after another, so
// stores that share one database may reset it in open.
//
// Beyond the comments on [inbox.Inbox] and [inbox.Admin], the suite pins
// these semantics:
//   - Put ignores the inbox-owned fields of its argument (State, Attempts,
//     NotBefore, LastError, Lease, LeaseUntil, FinishedAt), fills a zero
//     ReceivedAt from the clock, keeps no reference to the caller's Body, and
//     makes the message claimable at once. A Put without an ID fails.
//   - Claim returns claimable messages by ReceivedAt, oldest first; each
//     claim adds one to Attempts, sets a fresh non-empty Lease and
//     LeaseUntil = now + lease. A lease is current while now < LeaseUntil.
//   - Get reports a claim whose lease ran out as pending with no lease.
//   - Retry makes the message claimable from at on (at itself included).
//   - Requeue of a dead letter without a body keeps its own, and of a
//     pending or claimed message fails and changes nothing.
//   - Prune deletes done and dead messages with FinishedAt strictly before
//     the cutoff, freeing their ID and JobKey.
//   - Get, Ack, Retry, DeadLetter and Requeue of an unknown ID return an
//     error wrapping inbox.ErrNotFound.
//   - A canceled context makes every method fail with an error wrapping
//     context.Canceled, and change nothing.
//   - After Close, methods return an error wrapping inbox.ErrClosed.
//   - A Notify channel, unless nil, signals after a Put, a Requeue, and a
//     Retry whose time has come, and never blocks the writer.
//   - List of a cursor that is not one the inbox made fails with
//     inbox.ErrBadCursor; a limit under 1 lists one message; List sees a
//     claim whose lease ran out as Get does.
//
// Returned messages are compared with cmp after cmpopts.EquateEmpty, so nil
// and empty bodies are the same; times are compared with time.Time.Equal.
func Run(t *testing.T, open func(t *testing.T, clock func() time.Time) inbox.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"PutGet", testPutGet},
		{"PutOwnsItsCopy", testPutOwnsItsCopy},
		{"PutRequiresID", testPutRequiresID},
		{"PutRefusesLongKeys", testPutRefusesLongKeys},
		{"DuplicateID", testDuplicateID},
		{"DuplicateJobKey", testDuplicateJobKey},
		{"ConcurrentPutStoresOnce", testConcurrentPut},
		{"ClaimOrderAndLimit", testClaimOrderAndLimit},
		{"ClaimOrderIsByReceivedAt", testClaimOrderByReceivedAt},
		{"ConcurrentClaimsAreDisjoint", testConcurrentClaim},
		{"LeaseExpiryReturnsMessage", testLeaseExpiry},
		{"ExpiredLeaseCannotFinish", testExpiredLeaseCannotFinish},
		{"WrongLease", testWrongLease},
		{"AckIdempotent", testAckIdempotent},
		{"NotFound", testNotFound},
		{"RetryNotBefore", testRetryNotBefore},
		{"RetryInThePast", testRetryInThePast},
		{"DeadLetters", testDeadLetters},
		{"Replay", testReplay},
		{"ReplayOnlyDead", testReplayOnlyDead},
		{"Prune", testPrune},
		{"Depth", testDepth},
		{"Notify", testNotify},
		{"CanceledContext", testCanceledContext},
		{"Close", testClose},
		// inbox.Admin
		{"ListPages", testListPages},
		{"ListPagesStableUnderPuts", testListStable},
		{"ListFilters", testListFilters},
		{"ListBadCursor", testListBadCursor},
		{"Count", testCount},
		{"RequeueDead", testRequeueDead},
		{"RequeueDone", testRequeueDone},
		{"RequeueRefused", testRequeueRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: start}
			ib := open(t, clk.Now)
			if ib == nil {
				t.Fatal("open returned a nil inbox")
			}
			tc.fn(&env{T: t, ib: ib, clock: clk, ctx: t.Context()})
		})
	}
}

// clock is a fake clock the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

type env struct {
	*testing.T
	ib    inbox.Store
	clock *clock
	ctx   context.Context
}

// msg returns a message as a listener would put it.
func (e *env) msg(id string) *inbox.Message {
	return &inbox.Message{ID: id, Body: []byte(`{"id":"` + id + `"}`), ReceivedAt: e.clock.Now()}
}

// put stores a message and fails the test unless it was stored.
func (e *env) put(m *inbox.Message) {
	e.Helper()
	stored, err := e.ib.Put(e.ctx, m)
	if err != nil || !stored {
		e.Fatalf("Put(%q) = %v, %v; want true, nil", m.ID, stored, err)
	}
}

// putIDs stores messages with the given IDs, one clock second apart.
func (e *env) putIDs(ids ...string) {
	e.Helper()
	for _, id := range ids {
		e.put(e.msg(id))
		e.clock.Advance(time.Second)
	}
}

func (e *env) dup(m *inbox.Message) {
	e.Helper()
	stored, err := e.ib.Put(e.ctx, m)
	if err != nil || stored {
		e.Fatalf("Put(%q) of a duplicate = %v, %v; want false, nil", m.ID, stored, err)
	}
}

func (e *env) claim(n int, d time.Duration) []*inbox.Message {
	e.Helper()
	ms, err := e.ib.Claim(e.ctx, n, d)
	if err != nil {
		e.Fatalf("Claim(%d) = %v", n, err)
	}
	if ms == nil {
		e.Fatalf("Claim(%d) returned nil; want an empty slice", n)
	}
	return ms
}

// claimOne claims exactly one message and checks its ID.
func (e *env) claimOne(id string) *inbox.Message {
	e.Helper()
	ms := e.claim(10, lease)
	if got := ids(ms); len(got) != 1 || got[0] != id {
		e.Fatalf("Claim = %v; want [%s]", got, id)
	}
	return ms[0]
}

func (e *env) claimNone() {
	e.Helper()
	if ms := e.claim(10, lease); len(ms) != 0 {
		e.Fatalf("Claim = %v; want none", ids(ms))
	}
}

func (e *env) get(id string) *inbox.Message {
	e.Helper()
	m, err := e.ib.Get(e.ctx, id)
	if err != nil {
		e.Fatalf("Get(%q) = %v", id, err)
	}
	return m
}

func (e *env) gone(id string) {
	e.Helper()
	if m, err := e.ib.Get(e.ctx, id); !errors.Is(err, inbox.ErrNotFound) {
		e.Fatalf("Get(%q) = %+v, %v; want ErrNotFound", id, m, err)
	}
}

func (e *env) state(id string, want inbox.State) {
	e.Helper()
	if got := e.get(id).State; got != want {
		e.Fatalf("Get(%q).State = %q; want %q", id, got, want)
	}
}

func (e *env) depth(want int) {
	e.Helper()
	got, err := e.ib.Depth(e.ctx)
	if err != nil || got != want {
		e.Fatalf("Depth = %d, %v; want %d", got, err, want)
	}
}

func (e *env) ack(m *inbox.Message) {
	e.Helper()
	if err := e.ib.Ack(e.ctx, m.ID, m.Lease); err != nil {
		e.Fatalf("Ack(%q) = %v", m.ID, err)
	}
}

func (e *env) deadLetter(m *inbox.Message, reason string) {
	e.Helper()
	if err := e.ib.DeadLetter(e.ctx, m.ID, m.Lease, reason); err != nil {
		e.Fatalf("DeadLetter(%q) = %v", m.ID, err)
	}
}

// leaseLost checks that every way of ending a claim with lease fails with
// ErrLeaseLost and leaves the message as it was.
func (e *env) leaseLost(id, lease string) {
	e.Helper()
	before := e.get(id)
	for op, f := range map[string]func() error{
		"Ack":        func() error { return e.ib.Ack(e.ctx, id, lease) },
		"Retry":      func() error { return e.ib.Retry(e.ctx, id, lease, e.clock.Now(), "stale") },
		"DeadLetter": func() error { return e.ib.DeadLetter(e.ctx, id, lease, "stale") },
	} {
		if err := f(); !errors.Is(err, inbox.ErrLeaseLost) {
			e.Fatalf("%s(%q, lease %q) = %v; want ErrLeaseLost", op, id, lease, err)
		}
	}
	if diff := cmp.Diff(before, e.get(id), msgOpts); diff != "" {
		e.Fatalf("a call with a lost lease changed the message (-before +after):\n%s", diff)
	}
}

var msgOpts = cmpopts.EquateEmpty()

func ids(ms []*inbox.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func testPutGet(e *env) {
	received := start.Add(-3 * time.Second)
	in := &inbox.Message{
		ID:          "wh_1",
		JobKey:      "batch.succeeded\x00batches/1",
		Body:        []byte(`{"type":"batch.succeeded"}`),
		Scheme:      "v1",
		Synthesized: true,
		ReceivedAt:  received,
		// Fields the inbox owns: Put must ignore them.
		State:      inbox.StateDone,
		Attempts:   7,
		NotBefore:  start.Add(time.Hour),
		LastError:  "caller junk",
		Lease:      "caller-lease",
		LeaseUntil: start.Add(time.Hour),
		FinishedAt: start,
	}
	e.put(in)
	want := &inbox.Message{
		ID: "wh_1", JobKey: "batch.succeeded\x00batches/1", Body: []byte(`{"type":"batch.succeeded"}`),
		Scheme: "v1", Synthesized: true, ReceivedAt: received, State: inbox.StatePending,
	}
	got := e.get("wh_1")
	if diff := cmp.Diff(want, got, msgOpts, cmpopts.IgnoreFields(inbox.Message{}, "NotBefore")); diff != "" {
		e.Errorf("Get after Put (-want +got):\n%s", diff)
	}
	if got.NotBefore.After(e.clock.Now()) {
		e.Errorf("NotBefore = %v after Put at %v: the message is not claimable at once", got.NotBefore, e.clock.Now())
	}

	// A zero ReceivedAt is filled from the inbox clock.
	e.clock.Advance(5 * time.Second)
	e.put(&inbox.Message{ID: "wh_2", Body: []byte("{}")})
	if got := e.get("wh_2").ReceivedAt; !got.Equal(e.clock.Now()) {
		e.Errorf("ReceivedAt = %v for a zero ReceivedAt; want the clock's %v", got, e.clock.Now())
	}

	// Claim hands back the same data.
	ms := e.claim(10, lease)
	if diff := cmp.Diff([]string{"wh_1", "wh_2"}, ids(ms)); diff != "" {
		e.Fatalf("Claim IDs (-want +got):\n%s", diff)
	}
	want.State, want.Attempts, want.LeaseUntil = inbox.StateClaimed, 1, e.clock.Now().Add(lease)
	if diff := cmp.Diff(want, ms[0], msgOpts, cmpopts.IgnoreFields(inbox.Message{}, "NotBefore", "Lease")); diff != "" {
		e.Errorf("claimed message (-want +got):\n%s", diff)
	}
	if ms[0].Lease == "" || ms[1].Lease == "" || ms[0].Lease == ms[1].Lease {
		e.Errorf("leases %q and %q: want two distinct, non-empty leases", ms[0].Lease, ms[1].Lease)
	}
	got = e.get("wh_1")
	if got.State != inbox.StateClaimed || got.Lease != ms[0].Lease || !got.LeaseUntil.Equal(ms[0].LeaseUntil) {
		e.Errorf("Get of a claimed message: state %q lease %q until %v; want claimed, %q until %v",
			got.State, got.Lease, got.LeaseUntil, ms[0].Lease, ms[0].LeaseUntil)
	}
}

func testPutOwnsItsCopy(e *env) {
	m := e.msg("wh_1")
	m.Body = []byte("original")
	e.put(m)
	m.Body[0] = 'X'
	got := e.get("wh_1")
	if string(got.Body) != "original" {
		e.Fatalf("Body after the caller changed its slice = %q; want %q", got.Body, "original")
	}
	got.Body[0] = 'Y'
	got.State = inbox.StateDead
	if got := e.get("wh_1"); string(got.Body) != "original" || got.State != inbox.StatePending {
		e.Fatalf("Get after changing a returned message = %q, %q; want %q, pending", got.Body, got.State, "original")
	}
	c := e.claimOne("wh_1")
	c.Body[0] = 'Z'
	if got := e.get("wh_1"); string(got.Body) != "original" {
		e.Fatalf("Body after changing a claimed copy = %q; want %q", got.Body, "original")
	}
}

func testPutRequiresID(e *env) {
	if stored, err := e.ib.Put(e.ctx, &inbox.Message{Body: []byte("{}")}); err == nil || stored {
		e.Fatalf("Put without an ID = %v, %v; want an error", stored, err)
	}
	e.depth(0)
	e.claimNone()
}

// Keys over MaxKeyBytes are refused with ErrKeyTooLong, alone: the Puts
// around them, concurrent ones included, are stored as usual.
func testPutRefusesLongKeys(e *env) {
	long := strings.Repeat("k", inbox.MaxKeyBytes+1)
	edge := strings.Repeat("e", inbox.MaxKeyBytes)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for k := range errs {
		wg.Go(func() {
			m := e.msg(fmt.Sprintf("wh_%02d", k))
			switch k {
			case 5:
				m.ID = long
			case 6:
				m.JobKey = long
			case 7:
				m.ID = edge
			case 8:
				m.JobKey = edge
			}
			stored, err := e.ib.Put(e.ctx, m)
			if err == nil && !stored {
				err = errors.New("a duplicate")
			}
			errs[k] = err
		})
	}
	wg.Wait()
	for k, err := range errs {
		switch k {
		case 5, 6:
			if !errors.Is(err, inbox.ErrKeyTooLong) {
				e.Errorf("Put %d with a key of %d bytes = %v; want ErrKeyTooLong", k, len(long), err)
			}
		default:
			if err != nil {
				e.Errorf("Put %d = %v; want stored", k, err)
			}
		}
	}
	e.depth(len(errs) - 2)
	if _, err := e.ib.Get(e.ctx, long); !errors.Is(err, inbox.ErrNotFound) {
		e.Errorf("Get of the refused ID = %v; want ErrNotFound", err)
	}
}

func testDuplicateID(e *env) {
	// A duplicate is recognised in every state, and never replaces the body.
	e.putIDs("wh_claimed", "wh_done", "wh_dead", "wh_pending")
	ms := e.claim(3, lease)
	e.ack(ms[1])
	e.deadLetter(ms[2], "bad")
	for id, state := range map[string]inbox.State{
		"wh_pending": inbox.StatePending,
		"wh_claimed": inbox.StateClaimed,
		"wh_done":    inbox.StateDone,
		"wh_dead":    inbox.StateDead,
	} {
		again := e.msg(id)
		again.Body = []byte("second")
		e.dup(again)
		got := e.get(id)
		if got.State != state {
			e.Errorf("%s: state after a duplicate Put = %q; want %q", id, got.State, state)
		}
		if string(got.Body) == "second" {
			e.Errorf("%s: a duplicate Put replaced the body", id)
		}
	}
	e.depth(2) // the pending and the claimed one
}

func testDuplicateJobKey(e *env) {
	withKey := func(id, key string) *inbox.Message {
		m := e.msg(id)
		m.JobKey = key
		e.clock.Advance(time.Second)
		return m
	}
	// A done or dead message keeps its job key, as a pending one does.
	e.put(withKey("wh_done", "k_done"))
	e.put(withKey("wh_dead", "k_dead"))
	e.put(withKey("wh_a", "k_pending"))
	ms := e.claim(2, lease)
	e.ack(ms[0])
	e.deadLetter(ms[1], "bad")
	for _, key := range []string{"k_done", "k_dead", "k_pending"} {
		other := withKey("wh_other_"+key, key)
		e.dup(other)
		e.gone(other.ID)
	}
	// Empty job keys never collide.
	e.put(e.msg("wh_c"))
	e.put(e.msg("wh_d"))
	e.depth(3)
}

func testConcurrentPut(e *env) {
	const n = 50
	var wg sync.WaitGroup
	results := make(chan error, 2*n)
	stored := make(chan string, 2*n)
	for i := range n {
		wg.Go(func() {
			m := e.msg("wh_same")
			m.Body = fmt.Appendf(nil, "copy %d", i)
			ok, err := e.ib.Put(context.Background(), m)
			results <- err
			if ok {
				stored <- "wh_same"
			}
		})
		wg.Go(func() {
			m := e.msg(fmt.Sprintf("wh_job_%d", i))
			m.JobKey = "job"
			ok, err := e.ib.Put(context.Background(), m)
			results <- err
			if ok {
				stored <- m.ID
			}
		})
	}
	wg.Wait()
	close(results)
	close(stored)
	for err := range results {
		if err != nil {
			e.Fatalf("concurrent Put: %v", err)
		}
	}
	var sameCount, jobCount int
	for id := range stored {
		if id == "wh_same" {
			sameCount++
		} else {
			jobCount++
		}
	}
	if sameCount != 1 || jobCount != 1 {
		e.Fatalf("%d concurrent Puts of one ID stored %d; of one job key stored %d; want 1 and 1", n, sameCount, jobCount)
	}
	e.depth(2)
	if got := len(e.claim(100, lease)); got != 2 {
		e.Fatalf("Claim returned %d messages; want 2", got)
	}
}

func testClaimOrderAndLimit(e *env) {
	e.putIDs("wh_1", "wh_2", "wh_3", "wh_4", "wh_5")
	if got := ids(e.claim(2, lease)); !cmp.Equal(got, []string{"wh_1", "wh_2"}) {
		e.Fatalf("Claim(2) = %v; want [wh_1 wh_2]", got)
	}
	if got := ids(e.claim(1, lease)); !cmp.Equal(got, []string{"wh_3"}) {
		e.Fatalf("Claim(1) = %v; want [wh_3]", got)
	}
	if got := ids(e.claim(10, lease)); !cmp.Equal(got, []string{"wh_4", "wh_5"}) {
		e.Fatalf("Claim(10) = %v; want [wh_4 wh_5]", got)
	}
	e.claimNone()
	e.depth(5)
}

func testClaimOrderByReceivedAt(e *env) {
	// Order follows ReceivedAt, not the order of Puts.
	late := e.msg("wh_late")
	late.ReceivedAt = start.Add(10 * time.Second)
	early := e.msg("wh_early")
	early.ReceivedAt = start.Add(5 * time.Second)
	e.put(late)
	e.put(early)
	e.clock.Advance(20 * time.Second)
	e.put(e.msg("wh_new"))
	first := e.claim(1, lease)
	if got := ids(first); !cmp.Equal(got, []string{"wh_early"}) {
		e.Fatalf("Claim(1) = %v; want [wh_early]", got)
	}
	// A retried message keeps its place among claimable messages.
	if err := e.ib.Retry(e.ctx, first[0].ID, first[0].Lease, e.clock.Now().Add(5*time.Second), "later"); err != nil {
		e.Fatalf("Retry = %v", err)
	}
	e.clock.Advance(5 * time.Second)
	if got := ids(e.claim(10, lease)); !cmp.Equal(got, []string{"wh_early", "wh_late", "wh_new"}) {
		e.Fatalf("Claim(10) = %v; want [wh_early wh_late wh_new]", got)
	}
}

func testConcurrentClaim(e *env) {
	const n, workers = 40, 8
	for i := range n {
		e.put(e.msg(fmt.Sprintf("wh_%02d", i)))
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
		errs = make(chan error, workers)
	)
	for range workers {
		wg.Go(func() {
			for {
				ms, err := e.ib.Claim(context.Background(), 3, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(ms) == 0 {
					return
				}
				mu.Lock()
				for _, m := range ms {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.Fatalf("concurrent Claim: %v", err)
	}
	if len(seen) != n {
		e.Errorf("concurrent claims returned %d distinct messages; want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			e.Errorf("%s claimed %d times under one lease; want once", id, c)
		}
	}
}

func testLeaseExpiry(e *env) {
	e.putIDs("wh_1")
	first := e.claimOne("wh_1")
	if first.Attempts != 1 {
		e.Errorf("Attempts after the first claim = %d; want 1", first.Attempts)
	}
	e.clock.Advance(lease - time.Second)
	e.claimNone()
	e.state("wh_1", inbox.StateClaimed)

	e.clock.Advance(2 * time.Second)
	got := e.get("wh_1")
	if got.State != inbox.StatePending || got.Lease != "" {
		e.Errorf("Get after the lease ran out: state %q lease %q; want pending, no lease", got.State, got.Lease)
	}
	e.depth(1)
	second := e.claimOne("wh_1")
	if second.Attempts != 2 {
		e.Errorf("Attempts after the second claim = %d; want 2", second.Attempts)
	}
	if second.Lease == first.Lease {
		e.Errorf("the second claim reused lease %q", first.Lease)
	}
	if want := e.clock.Now().Add(lease); !second.LeaseUntil.Equal(want) {
		e.Errorf("LeaseUntil = %v; want %v", second.LeaseUntil, want)
	}
	e.leaseLost("wh_1", first.Lease)
	e.ack(second)
	e.state("wh_1", inbox.StateDone)
}

func testExpiredLeaseCannotFinish(e *env) {
	e.putIDs("wh_1")
	c := e.claimOne("wh_1")
	e.clock.Advance(lease + time.Second)
	// Nobody reclaimed it, yet the lease is no longer current.
	e.leaseLost("wh_1", c.Lease)
	if got := e.claimOne("wh_1"); got.Attempts != 2 {
		e.Errorf("Attempts = %d; want 2", got.Attempts)
	}
}

func testWrongLease(e *env) {
	e.putIDs("wh_1", "wh_2")
	ms := e.claim(2, lease)
	e.leaseLost("wh_1", "")
	e.leaseLost("wh_1", "not-a-lease")
	e.leaseLost("wh_1", ms[1].Lease) // another message's lease
	e.state("wh_1", inbox.StateClaimed)
	// A pending message has no current lease at all.
	e.putIDs("wh_3")
	e.leaseLost("wh_3", ms[0].Lease)
	e.state("wh_3", inbox.StatePending)
}

func testAckIdempotent(e *env) {
	e.putIDs("wh_1")
	c := e.claimOne("wh_1")
	e.clock.Advance(time.Second)
	finished := e.clock.Now()
	e.ack(c)
	e.clock.Advance(time.Second)
	e.ack(c) // again, with the lease that completed it
	got := e.get("wh_1")
	if got.State != inbox.StateDone || !got.FinishedAt.Equal(finished) || got.Lease != "" {
		e.Errorf("after Ack: state %q, finished %v, lease %q; want done, %v, none", got.State, got.FinishedAt, got.Lease, finished)
	}
	if err := e.ib.Ack(e.ctx, "wh_1", "not-a-lease"); !errors.Is(err, inbox.ErrLeaseLost) {
		e.Errorf("Ack of a done message with another lease = %v; want ErrLeaseLost", err)
	}
	if err := e.ib.Retry(e.ctx, "wh_1", c.Lease, e.clock.Now(), "again"); !errors.Is(err, inbox.ErrLeaseLost) {
		e.Errorf("Retry of a done message = %v; want ErrLeaseLost", err)
	}
	if err := e.ib.DeadLetter(e.ctx, "wh_1", c.Lease, "again"); !errors.Is(err, inbox.ErrLeaseLost) {
		e.Errorf("DeadLetter of a done message = %v; want ErrLeaseLost", err)
	}
	e.state("wh_1", inbox.StateDone)
	e.claimNone()
	e.depth(0)
}

func testNotFound(e *env) {
	for op, f := range map[string]func() error{
		"Get":        func() error { _, err := e.ib.Get(e.ctx, "nope"); return err },
		"Ack":        func() error { return e.ib.Ack(e.ctx, "nope", "lease") },
		"Retry":      func() error { return e.ib.Retry(e.ctx, "nope", "lease", e.clock.Now(), "x") },
		"DeadLetter": func() error { return e.ib.DeadLetter(e.ctx, "nope", "lease", "x") },
		"Requeue":    func() error { return e.ib.Requeue(e.ctx, "nope", nil) },
	} {
		if err := f(); !errors.Is(err, inbox.ErrNotFound) {
			e.Errorf("%s of an unknown ID = %v; want ErrNotFound", op, err)
		}
	}
}

func testRetryNotBefore(e *env) {
	e.putIDs("wh_1")
	c := e.claimOne("wh_1")
	at := e.clock.Now().Add(30 * time.Second)
	if err := e.ib.Retry(e.ctx, "wh_1", c.Lease, at, "handler: boom"); err != nil {
		e.Fatalf("Retry = %v", err)
	}
	got := e.get("wh_1")
	want := &inbox.Message{
		ID: "wh_1", Body: c.Body, ReceivedAt: c.ReceivedAt, State: inbox.StatePending,
		Attempts: 1, NotBefore: at, LastError: "handler: boom",
	}
	if diff := cmp.Diff(want, got, msgOpts); diff != "" {
		e.Errorf("after Retry (-want +got):\n%s", diff)
	}
	e.depth(1)
	e.leaseLost("wh_1", c.Lease)
	e.claimNone()
	e.clock.Advance(29 * time.Second)
	e.claimNone()
	e.clock.Advance(time.Second) // exactly at: claimable
	again := e.claimOne("wh_1")
	if again.Attempts != 2 || again.LastError != "handler: boom" {
		e.Errorf("reclaimed: attempts %d, last error %q; want 2, %q", again.Attempts, again.LastError, "handler: boom")
	}
	e.ack(again)
}

func testRetryInThePast(e *env) {
	e.putIDs("wh_1")
	c := e.claimOne("wh_1")
	if err := e.ib.Retry(e.ctx, "wh_1", c.Lease, e.clock.Now().Add(-time.Minute), "now"); err != nil {
		e.Fatalf("Retry = %v", err)
	}
	e.claimOne("wh_1")
}

// deadLetters lists the dead letters, newest arrival first.
func (e *env) deadLetters(limit int) []*inbox.Message {
	e.Helper()
	p, err := e.ib.List(e.ctx, inbox.Filter{State: inbox.StateDead}, "", limit)
	if err != nil {
		e.Fatalf("List of the dead letters = %v", err)
	}
	return p.Messages
}

func testDeadLetters(e *env) {
	e.putIDs("wh_a", "wh_b", "wh_c")
	ms := e.claim(3, lease)
	e.deadLetter(ms[1], "reason b")
	e.clock.Advance(time.Second)
	e.deadLetter(ms[0], "reason a")
	e.leaseLost("wh_a", ms[0].Lease)

	// Listed newest arrival first: b, then a.
	dl := e.deadLetters(10)
	want := []*inbox.Message{
		{ID: "wh_b", Body: ms[1].Body, ReceivedAt: ms[1].ReceivedAt, State: inbox.StateDead, Attempts: 1,
			LastError: "reason b", FinishedAt: e.clock.Now().Add(-time.Second)},
		{ID: "wh_a", Body: ms[0].Body, ReceivedAt: ms[0].ReceivedAt, State: inbox.StateDead, Attempts: 1,
			LastError: "reason a", FinishedAt: e.clock.Now()},
	}
	if diff := cmp.Diff(want, dl, msgOpts, cmpopts.IgnoreFields(inbox.Message{}, "NotBefore")); diff != "" {
		e.Errorf("dead letters (-want +got):\n%s", diff)
	}
	if dl := e.deadLetters(1); !cmp.Equal(ids(dl), []string{"wh_b"}) {
		e.Errorf("dead letters, limit 1 = %v; want [wh_b]", ids(dl))
	}
	e.depth(1)
	e.ack(ms[2])
	e.depth(0)
	e.claimNone()
	e.dup(e.msg("wh_a"))
}

// A dead letter requeued without a body runs again with its own.
func testReplay(e *env) {
	e.putIDs("wh_1")
	e.claimOne("wh_1")
	// Let the lease run out twice so Attempts grows.
	e.clock.Advance(lease)
	c := e.claimOne("wh_1")
	e.deadLetter(c, "gave up")
	e.depth(0)
	if err := e.ib.Requeue(e.ctx, "wh_1", nil); err != nil {
		e.Fatalf("Requeue = %v", err)
	}
	got := e.get("wh_1")
	if got.State != inbox.StatePending || got.Attempts != 0 {
		e.Errorf("after Requeue: state %q attempts %d; want pending, 0", got.State, got.Attempts)
	}
	e.depth(1)
	if dl := e.deadLetters(10); len(dl) != 0 {
		e.Errorf("dead letters after Requeue = %v; want none", ids(dl))
	}
	again := e.claimOne("wh_1")
	if again.Attempts != 1 || string(again.Body) != string(c.Body) {
		e.Errorf("the claim after Requeue: attempts %d, body %q; want 1, %q", again.Attempts, again.Body, c.Body)
	}
	e.leaseLost("wh_1", c.Lease)
	e.ack(again)
}

func testReplayOnlyDead(e *env) {
	e.putIDs("wh_claimed", "wh_pending")
	e.claim(1, lease)
	for _, id := range []string{"wh_pending", "wh_claimed"} {
		before := e.get(id)
		if err := e.ib.Requeue(e.ctx, id, nil); !errors.Is(err, inbox.ErrNotFinished) {
			e.Errorf("Requeue(%q) of a %s message = %v; want ErrNotFinished", id, before.State, err)
		}
		if diff := cmp.Diff(before, e.get(id), msgOpts); diff != "" {
			e.Errorf("Requeue(%q) changed the message (-before +after):\n%s", id, diff)
		}
	}
}

func testPrune(e *env) {
	withKey := func(id string) *inbox.Message {
		m := e.msg(id)
		m.JobKey = "job_" + id
		return m
	}
	all := []string{"wh_done_old", "wh_dead_old", "wh_done_at", "wh_dead_at", "wh_done_new",
		"wh_pending", "wh_claimed", "wh_retried"}
	for _, id := range all {
		e.put(withKey(id))
		e.clock.Advance(time.Second)
	}
	byID := map[string]*inbox.Message{}
	for _, m := range e.claim(len(all), lease) {
		byID[m.ID] = m
	}
	if len(byID) != len(all) {
		e.Fatalf("claimed %d messages; want %d", len(byID), len(all))
	}
	e.ack(byID["wh_done_old"])
	e.deadLetter(byID["wh_dead_old"], "bad")
	e.clock.Advance(time.Second)
	cutoff := e.clock.Now()
	e.ack(byID["wh_done_at"]) // finished at the cutoff, not before it: kept
	e.deadLetter(byID["wh_dead_at"], "bad")
	e.clock.Advance(time.Second)
	e.ack(byID["wh_done_new"])
	if err := e.ib.Retry(e.ctx, "wh_retried", byID["wh_retried"].Lease, e.clock.Now(), "later"); err != nil {
		e.Fatalf("Retry = %v", err)
	}
	if err := e.ib.Retry(e.ctx, "wh_pending", byID["wh_pending"].Lease, e.clock.Now().Add(time.Hour), "later"); err != nil {
		e.Fatalf("Retry = %v", err)
	}
	e.clock.Advance(2 * time.Hour) // wh_claimed's lease runs out: it is pending again, not prunable

	n, err := e.ib.Prune(e.ctx, cutoff)
	if err != nil || n != 2 {
		e.Fatalf("Prune = %d, %v; want 2, nil", n, err)
	}
	e.gone("wh_done_old")
	e.gone("wh_dead_old")
	for _, id := range all[2:] {
		e.get(id)
	}
	if dl := e.deadLetters(10); !cmp.Equal(ids(dl), []string{"wh_dead_at"}) {
		e.Errorf("dead letters after Prune = %v; want [wh_dead_at]", ids(dl))
	}
	// Pruned keys are free again, both the ID and the job key; kept ones are not.
	e.put(e.msg("wh_done_old"))
	e.put(&inbox.Message{ID: "wh_other", JobKey: "job_wh_dead_old", Body: []byte("{}")})
	e.dup(withKey("wh_done_at"))
	e.dup(&inbox.Message{ID: "wh_other2", JobKey: "job_wh_done_new", Body: []byte("{}")})

	if n, err := e.ib.Prune(e.ctx, cutoff); err != nil || n != 0 {
		e.Errorf("second Prune = %d, %v; want 0, nil", n, err)
	}
	// A cutoff in the future takes every done and dead message, nothing else.
	if n, err := e.ib.Prune(e.ctx, e.clock.Now().Add(24*time.Hour)); err != nil || n != 3 {
		e.Errorf("Prune of everything finished = %d, %v; want 3, nil", n, err)
	}
	e.depth(5) // wh_pending, wh_claimed, wh_retried, and the two new ones
}

func testDepth(e *env) {
	e.depth(0)
	e.putIDs("wh_1", "wh_2", "wh_3", "wh_4")
	e.depth(4)
	ms := e.claim(3, lease)
	e.depth(4)
	e.ack(ms[0])
	e.depth(3)
	e.deadLetter(ms[1], "bad")
	e.depth(2)
	if err := e.ib.Retry(e.ctx, ms[2].ID, ms[2].Lease, e.clock.Now().Add(time.Hour), "later"); err != nil {
		e.Fatalf("Retry = %v", err)
	}
	e.depth(2)
	e.dup(e.msg("wh_1"))
	e.depth(2)
}

func testNotify(e *env) {
	ch := e.ib.Notify()
	if ch == nil {
		e.Skip("the inbox does not signal (Notify returns nil)")
	}
	drain := func() {
		for {
			select {
			case <-ch:
			default:
				return
			}
		}
	}
	wait := func(what string) {
		e.Helper()
		select {
		case <-ch:
		case <-time.After(notifyWait):
			e.Fatalf("no signal within %v after %s", notifyWait, what)
		}
	}
	drain()
	e.putIDs("wh_1")
	wait("a Put")

	// Signals never block writers, even when nobody reads them.
	done := make(chan error, 1)
	go func() {
		for i := range 20 {
			if _, err := e.ib.Put(context.Background(), e.msg(fmt.Sprintf("wh_x%d", i))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			e.Fatalf("Put = %v", err)
		}
	case <-time.After(notifyWait):
		e.Fatal("Put blocked while nobody read the Notify channel")
	}
	wait("unread Puts")

	c := e.claim(1, lease)[0]
	drain()
	if err := e.ib.Retry(e.ctx, c.ID, c.Lease, e.clock.Now(), "now"); err != nil {
		e.Fatalf("Retry = %v", err)
	}
	wait("a Retry due at once")

	c = e.claim(1, lease)[0]
	e.deadLetter(c, "bad")
	drain()
	if err := e.ib.Requeue(e.ctx, c.ID, nil); err != nil {
		e.Fatalf("Requeue = %v", err)
	}
	wait("a Requeue")
}

func testCanceledContext(e *env) {
	e.putIDs("wh_claimed", "wh_pending")
	c := e.claim(1, lease)[0]
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	for op, f := range map[string]func() error{
		"Put":        func() error { _, err := e.ib.Put(ctx, e.msg("wh_new")); return err },
		"Claim":      func() error { _, err := e.ib.Claim(ctx, 10, lease); return err },
		"Ack":        func() error { return e.ib.Ack(ctx, c.ID, c.Lease) },
		"Retry":      func() error { return e.ib.Retry(ctx, c.ID, c.Lease, e.clock.Now(), "x") },
		"DeadLetter": func() error { return e.ib.DeadLetter(ctx, c.ID, c.Lease, "x") },
		"List":       func() error { _, err := e.ib.List(ctx, inbox.Filter{}, "", 10); return err },
		"Count":      func() error { _, err := e.ib.Count(ctx); return err },
		"Requeue":    func() error { return e.ib.Requeue(ctx, c.ID, nil) },
		"Get":        func() error { _, err := e.ib.Get(ctx, c.ID); return err },
		"Prune":      func() error { _, err := e.ib.Prune(ctx, e.clock.Now().Add(time.Hour)); return err },
		"Depth":      func() error { _, err := e.ib.Depth(ctx); return err },
	} {
		if err := f(); !errors.Is(err, context.Canceled) {
			e.Errorf("%s with a canceled context = %v; want an error wrapping context.Canceled", op, err)
		}
	}
	e.gone("wh_new")
	e.state("wh_claimed", inbox.StateClaimed)
	e.claimOne("wh_pending")
	e.ack(c)
}

func testClose(e *env) {
	e.putIDs("wh_1")
	if err := e.ib.Close(); err != nil {
		e.Fatalf("Close = %v", err)
	}
	for op, f := range map[string]func() error{
		"Put":   func() error { _, err := e.ib.Put(e.ctx, e.msg("wh_2")); return err },
		"Claim": func() error { _, err := e.ib.Claim(e.ctx, 1, lease); return err },
		"Get":   func() error { _, err := e.ib.Get(e.ctx, "wh_1"); return err },
		"Depth": func() error { _, err := e.ib.Depth(e.ctx); return err },
	} {
		if err := f(); !errors.Is(err, inbox.ErrClosed) {
			e.Errorf("%s after Close = %v; want ErrClosed", op, err)
		}
	}
	if err := e.ib.Close(); err != nil && !errors.Is(err, inbox.ErrClosed) {
		e.Errorf("second Close = %v; want nil or ErrClosed", err)
	}
}
