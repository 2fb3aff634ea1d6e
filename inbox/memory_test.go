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
	inboxtest.Run(t, func(t *testing.T, clock func() time.Time) inbox.Store {
		ib, err := inbox.NewMemory(&inbox.MemoryConfig{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ib.Close() })
		return ib
	})
}

func TestMemoryCapacity(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 2})
	if err != nil {
		t.Fatal(err)
	}
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
	if err := ib.Requeue(ctx, "a", nil); !errors.Is(err, inbox.ErrFull) {
		t.Fatalf("Requeue when full = %v; want ErrFull", err)
	}
	// A done message keeps only its keys.
	if m, err := ib.Get(ctx, "b"); err != nil || m.Body != nil {
		t.Fatalf("Get of a done message = %q, %v; want no body", m.Body, err)
	}
}

// A capacity out of range is an error naming the field, never a panic or a
// silent default.
func TestMemoryConfigRefused(t *testing.T) {
	t.Parallel()
	ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: -1})
	if err == nil || ib != nil {
		t.Fatalf("NewMemory(Capacity: -1) = %v, %v; want an error", ib, err)
	}
	if want := "inbox: MemoryConfig.Capacity is -1, need at least 1"; err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
}

// NewMemory copies its config: a later change has no effect.
func TestMemoryConfigCopied(t *testing.T) {
	t.Parallel()
	cfg := &inbox.MemoryConfig{Capacity: 1}
	ib, err := inbox.NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	cfg.Capacity = 100
	ctx := t.Context()
	if _, err := ib.Put(ctx, &inbox.Message{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ib.Put(ctx, &inbox.Message{ID: "b"}); !errors.Is(err, inbox.ErrFull) {
		t.Errorf("second Put = %v; want ErrFull at the capacity given to NewMemory", err)
	}
}
