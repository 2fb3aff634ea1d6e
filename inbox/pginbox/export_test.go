package pginbox

import (
	"context"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
)

// ClaimForGoneCaller runs a shared claim for a caller that stopped waiting
// before its answer came, as happens when its context ends mid-statement.
func ClaimForGoneCaller(i *Inbox, n int, lease time.Duration) {
	c := &claimCall{ctx: context.Background(), q: claimReq{n: n, lease: lease, now: i.clock()}, done: make(chan result[[]*inbox.Message], 1)}
	c.state.Store(2)
	i.claimBatch([]*claimCall{c})
}
