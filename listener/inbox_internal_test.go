package listener

import (
	"context"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
)

// TestMemoryInboxSkipsTheStoreTimer checks which inboxes the listener calls
// without the store timeout's timer: every memory inbox, whether New made it
// or the caller did, since none of its calls waits. A wrapped one keeps the
// timer (the wrapper may wait), and only New's own is swept at shutdown.
func TestMemoryInboxSkipsTheStoreTimer(t *testing.T) {
	mem, err := inbox.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	for _, c := range []struct {
		name         string
		ib           inbox.Inbox
		timer, swept bool
	}{
		{"New's own", nil, false, true},
		{"the caller's memory inbox", mem, false, false},
		{"a wrapped memory inbox", &claimCounter{Store: mem}, true, false},
	} {
		l, err := New(noVerifier{}, &Config{Inbox: c.ib})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := l.storeCtx()
		_, timer := ctx.Deadline()
		cancel()
		if timer != c.timer || l.ownInbox != c.swept {
			t.Errorf("%s: store calls with a deadline %v, swept %v; want %v, %v", c.name, timer, l.ownInbox, c.timer, c.swept)
		}
	}
}

// heldAck is an inbox whose Acks wait until release is closed.
type heldAck struct {
	inbox.Store
	release chan struct{}
}

func (h *heldAck) Ack(ctx context.Context, id, lease string) error {
	<-h.release
	return h.Store.Ack(ctx, id, lease)
}

// A worker acks a memory inbox's event before it takes the next one (the
// ack only takes the inbox's mutex: overlapping it would only cost a
// goroutine), and goes on while any other inbox's ack is still running.
func TestMemoryInboxAcksInline(t *testing.T) {
	body, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1"}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, wrapped := range []bool{false, true} {
		mem, err := inbox.NewMemory(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer mem.Close()
		if _, err := mem.Put(t.Context(), &inbox.Message{ID: "msg_1", Body: body}); err != nil {
			t.Fatal(err)
		}
		var ib inbox.Inbox = mem
		held := &heldAck{Store: mem, release: make(chan struct{})}
		if wrapped {
			ib = held
		}
		l, err := New(noVerifier{}, &Config{Inbox: ib})
		if err != nil {
			t.Fatal(err)
		}
		l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error { return nil })
		ms := l.claim(1)
		if len(ms) != 1 {
			t.Fatalf("claimed %d messages; want 1", len(ms))
		}
		a := l.newAcker()
		l.process(t.Context(), ms[0], &a)
		want := inbox.StateDone
		if wrapped {
			want = inbox.StateClaimed // its ack is held
		}
		if m, err := mem.Get(t.Context(), "msg_1"); err != nil || m.State != want {
			t.Fatalf("wrapped %v: after process, msg_1 is %v (%v); want %s", wrapped, m, err, want)
		}
		close(held.release)
		a.wait()
		if m, err := mem.Get(t.Context(), "msg_1"); err != nil || m.State != inbox.StateDone {
			t.Errorf("wrapped %v: after the ack, msg_1 is %v (%v); want done", wrapped, m, err)
		}
	}
}
