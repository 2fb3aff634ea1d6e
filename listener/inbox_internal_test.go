package listener

import (
	"testing"

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
