package pginbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/ledger"
)

// fixedClock returns a clock that reads start until advanced.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) read() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fixedClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// putMessages stores n messages received one second apart, oldest first.
func putMessages(t *testing.T, ib inbox.Inbox, start time.Time, n int) {
	t.Helper()
	for k := range n {
		m := &inbox.Message{ID: fmt.Sprintf("wh_%03d", k), Body: []byte("{}"), ReceivedAt: start.Add(time.Duration(k) * time.Second)}
		if ok, err := ib.Put(t.Context(), m); err != nil || !ok {
			t.Fatalf("Put(%s) = %v, %v", m.ID, ok, err)
		}
	}
}

// together runs fns at once, so that calls queued together share statements.
func together(fns ...func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fn := range fns {
		wg.Go(func() {
			<-start
			fn()
		})
	}
	close(start)
	wg.Wait()
}

// TestSharedClaims sends Claims at once, with two lease durations: the
// calls take disjoint messages among the oldest, each as many as it asked
// for, oldest first, with its own lease.
func TestSharedClaims(t *testing.T) {
	t.Parallel()
	clk := &fixedClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ib, _ := newInbox(t, testPool(t), &pginbox.Config{Now: clk.read})
	const messages, callers, each = 70, 20, 3
	putMessages(t, ib, clk.read().Add(-time.Hour), messages)
	got := make([][]*inbox.Message, callers)
	fns := make([]func(), callers)
	for k := range fns {
		fns[k] = func() {
			ms, err := ib.Claim(context.Background(), each, time.Duration(1+k%2)*time.Minute)
			if err != nil {
				t.Error(err)
			}
			got[k] = ms
		}
	}
	together(fns...)
	seen := map[string]bool{}
	total := 0
	for k, ms := range got {
		if len(ms) != each {
			t.Errorf("caller %d got %d messages; want %d", k, len(ms), each)
		}
		total += len(ms)
		for j, m := range ms {
			if seen[m.ID] {
				t.Errorf("message %s claimed twice", m.ID)
			}
			seen[m.ID] = true
			if j > 0 && !ms[j-1].ReceivedAt.Before(m.ReceivedAt) {
				t.Errorf("caller %d: %s before %s; want oldest first", k, ms[j-1].ID, m.ID)
			}
			if want := clk.read().Add(time.Duration(1+k%2) * time.Minute); !m.LeaseUntil.Equal(want) || m.State != inbox.StateClaimed || m.Attempts != 1 {
				t.Errorf("caller %d: %s is %s until %v, attempt %d; want claimed until %v, attempt 1", k, m.ID, m.State, m.LeaseUntil, m.Attempts, want)
			}
		}
	}
	if total != callers*each {
		t.Fatalf("claimed %d messages in all; want %d", total, callers*each)
	}
	// The oldest were taken: what is left is the newest.
	rest, err := ib.Claim(t.Context(), messages, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rest {
		if seen[m.ID] {
			t.Errorf("message %s claimed again while leased", m.ID)
		}
		if m.ID < fmt.Sprintf("wh_%03d", total) {
			t.Errorf("message %s left behind newer ones", m.ID)
		}
	}
	if len(rest)+total != messages {
		t.Errorf("second claim got %d; want %d", len(rest), messages-total)
	}
}

// TestSharedAcks sends Acks at once whose answers differ: each caller
// gets the answer a lone Ack would get, whatever the others in its
// statement did.
func TestSharedAcks(t *testing.T) {
	t.Parallel()
	clk := &fixedClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ib, _ := newInbox(t, testPool(t), &pginbox.Config{Now: clk.read})
	const messages = 12
	putMessages(t, ib, clk.read().Add(-time.Hour), messages)
	short, err := ib.Claim(t.Context(), messages/2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	long, err := ib.Claim(t.Context(), messages/2, time.Hour)
	if err != nil || len(short)+len(long) != messages {
		t.Fatalf("claimed %d+%d, %v; want %d", len(short), len(long), err, messages)
	}
	clk.advance(2 * time.Minute) // the short leases have ended

	type ack struct{ id, lease string }
	var (
		acks []ack
		want []error
	)
	for _, m := range short {
		acks = append(acks, ack{m.ID, m.Lease})
		want = append(want, inbox.ErrLeaseLost)
	}
	for _, m := range long {
		// Twice with its lease (both succeed: Ack is idempotent), once
		// with another message's lease.
		acks = append(acks, ack{m.ID, m.Lease}, ack{m.ID, m.Lease}, ack{m.ID, short[0].Lease})
		want = append(want, nil, nil, inbox.ErrLeaseLost)
	}
	acks = append(acks, ack{"wh_unknown", "x"}, ack{long[0].ID, ""})
	want = append(want, inbox.ErrNotFound, inbox.ErrLeaseLost)

	errs := make([]error, len(acks))
	fns := make([]func(), len(acks))
	for k, a := range acks {
		fns[k] = func() { errs[k] = ib.Ack(context.Background(), a.id, a.lease) }
	}
	together(fns...)
	for k, a := range acks {
		if !errors.Is(errs[k], want[k]) || (want[k] == nil) != (errs[k] == nil) {
			t.Errorf("Ack(%s, %q) = %v; want %v", a.id, a.lease, errs[k], want[k])
		}
	}
	states := map[string]inbox.State{}
	for _, m := range append(short, long...) {
		got, err := ib.Get(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		states[m.ID] = got.State
	}
	wantStates := map[string]inbox.State{}
	for _, m := range short {
		wantStates[m.ID] = inbox.StatePending // an ended lease reads as pending
	}
	for _, m := range long {
		wantStates[m.ID] = inbox.StateDone
	}
	if diff := cmp.Diff(wantStates, states); diff != "" {
		t.Errorf("states after the acks (-want +got):\n%s", diff)
	}
}

// TestClaimForGoneCallerIsHandedBack checks that messages claimed for a
// caller that stopped waiting are claimable again at once, with the claim
// not counted, rather than after their lease.
func TestClaimForGoneCallerIsHandedBack(t *testing.T) {
	t.Parallel()
	clk := &fixedClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ib, _ := newInbox(t, testPool(t), &pginbox.Config{Now: clk.read})
	putMessages(t, ib, clk.read().Add(-time.Hour), 3)
	pginbox.ClaimForGoneCaller(ib, 2, time.Hour)
	ms, err := ib.Claim(t.Context(), 3, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s attempt %d", m.ID, m.Attempts))
	}
	want := []string{"wh_000 attempt 1", "wh_001 attempt 1", "wh_002 attempt 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claim after a gone caller's claim (-want +got):\n%s", diff)
	}
}

// TestSharedSettles sends Settles at once, two of them for one job: every
// tracked job named is settled at the time one of its Settles gave, and an
// unknown name changes nothing.
func TestSharedSettles(t *testing.T) {
	t.Parallel()
	ib, _ := newInbox(t, testPool(t), nil)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"batches/a", "batches/b", "batches/c"} {
		if err := ib.Ledger.Track(t.Context(), &ledger.Job{Name: name, Kind: ledger.KindBatch, LaunchedAt: t0, NextCheck: t0}); err != nil {
			t.Fatal(err)
		}
	}
	settles := []struct {
		name string
		at   time.Time
	}{
		{"batches/a", t0.Add(time.Second)},
		{"batches/a", t0.Add(2 * time.Second)},
		{"batches/b", t0.Add(3 * time.Second)},
		{"batches/unknown", t0.Add(4 * time.Second)},
	}
	errs := make([]error, len(settles))
	fns := make([]func(), len(settles))
	for k, s := range settles {
		fns[k] = func() { errs[k] = ib.Ledger.Settle(context.Background(), s.name, s.at) }
	}
	together(fns...)
	for k, s := range settles {
		if errs[k] != nil {
			t.Errorf("Settle(%s) = %v", s.name, errs[k])
		}
	}
	got := map[string]string{}
	for _, name := range []string{"batches/a", "batches/b", "batches/c"} {
		j, err := ib.Ledger.Job(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		got[name] = fmt.Sprint(j.Settled)
		if j.Settled {
			got[name] += " " + j.SettledAt.UTC().Sub(t0).String()
		}
	}
	if a := got["batches/a"]; a == "true 2s" {
		got["batches/a"] = "true 1s" // either of its Settles may have come first
	}
	want := map[string]string{"batches/a": "true 1s", "batches/b": "true 3s", "batches/c": "false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jobs after the settles (-want +got):\n%s", diff)
	}
	if _, err := ib.Ledger.Job(t.Context(), "batches/unknown"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Job(unknown) = %v; want ErrNotFound", err)
	}
}
