package inbox_test

import (
	"errors"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/inboxtest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	inboxtest.Run(t, func(t *testing.T, clock func() time.Time) inbox.Inbox {
		ib := inbox.NewMemory(inbox.WithClock(clock))
		t.Cleanup(func() { ib.Close() })
		return ib
	})
}

func TestMemoryCapacity(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ib := inbox.NewMemory(inbox.WithCapacity(2))
	defer ib.Close()
	put := func(id string) (bool, error) { return ib.Put(ctx, &inbox.Message{ID: id, Body: []byte("{}")}) }
	for _, id := range []string{"a", "b"} {
		if ok, err := put(id); !ok || err != nil {
			t.Fatalf("Put(%q) = %v, %v", id, ok, err)
		}
	}
	if ok, err := put("c"); ok || !errors.Is(err, inbox.ErrFull) {
		t.Fatalf("Put beyond capacity = %v, %v; want ErrFull", ok, err)
	}
	// A duplicate is still recognised when full, so the sender stops retrying.
	if ok, err := put("a"); ok || err != nil {
		t.Fatalf("Put of a duplicate when full = %v, %v; want false, nil", ok, err)
	}
	ms, err := ib.Claim(ctx, 2, time.Minute)
	if err != nil || len(ms) != 2 {
		t.Fatalf("Claim = %d, %v", len(ms), err)
	}
	if err := ib.DeadLetter(ctx, "a", ms[0].Lease, "bad"); err != nil {
		t.Fatal(err)
	}
	if err := ib.Ack(ctx, "b", ms[1].Lease); err != nil {
		t.Fatal(err)
	}
	// Done and dead messages do not count against the capacity.
	for _, id := range []string{"c", "d"} {
		if ok, err := put(id); !ok || err != nil {
			t.Fatalf("Put(%q) after finishing two = %v, %v", id, ok, err)
		}
	}
	if err := ib.Replay(ctx, "a"); !errors.Is(err, inbox.ErrFull) {
		t.Fatalf("Replay when full = %v; want ErrFull", err)
	}
	// A done message keeps only its keys.
	if m, err := ib.Get(ctx, "b"); err != nil || m.Body != nil {
		t.Fatalf("Get of a done message = %q, %v; want no body", m.Body, err)
	}
}

func TestWithCapacityPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("WithCapacity(0) did not panic")
		}
	}()
	inbox.WithCapacity(0)
}

func TestMemoryTrackerConformance(t *testing.T) {
	t.Parallel()
	inboxtest.RunTracker(t, func(t *testing.T) inbox.Tracker {
		ib := inbox.NewMemory()
		t.Cleanup(func() { ib.Close() })
		return ib
	})
}
