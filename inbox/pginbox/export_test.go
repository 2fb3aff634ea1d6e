package pginbox

import (
	"context"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
)

// ClaimForGoneCaller runs a shared claim for a caller that stopped waiting
// before its answer came, as happens when its context ends mid-statement.
func ClaimForGoneCaller(db *DB, n int, lease time.Duration) {
	i := db.s
	c := &claimCall{ctx: context.Background(), q: claimReq{n: n, lease: lease, now: i.clock()}, done: make(chan result[[]*inbox.Message], 1)}
	c.state.Store(2)
	i.claimBatch([]*claimCall{c})
}

// PutShared runs one shared INSERT for messages with the given IDs, as
// concurrent Puts share it, without Put's own checks on the keys, and
// returns each one's answer.
func PutShared(db *DB, ids []string) ([]bool, []error) {
	i := db.s
	reqs := make([]*putReq, len(ids))
	for k, id := range ids {
		reqs[k] = &putReq{ctx: context.Background(), id: []byte(id), jobKey: []byte{}, body: []byte(`{}`),
			receivedAt: i.clock(), now: i.clock(), done: make(chan putResult, 1)}
	}
	i.putBatch(reqs)
	stored, errs := make([]bool, len(ids)), make([]error, len(ids))
	for k, r := range reqs {
		res := <-r.done
		stored[k], errs[k] = res.stored, res.err
	}
	return stored, errs
}

// MigrationSteps returns the schema steps in order, so a test can build a
// database at an older version.
func MigrationSteps(db *DB) []string { return db.s.names.migrationSteps() }
