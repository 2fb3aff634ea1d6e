package pginbox_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
)

// TestPutSharedStatementDecidesLikeSeparateOnes sends Puts that share
// commits and whose conflicts depend on one another: each must get the
// answer it would get alone, in some order.
func TestPutSharedStatementDecidesLikeSeparateOnes(t *testing.T) {
	t.Parallel()
	ib, _ := newInbox(t, testPool(t), nil)
	ctx := t.Context()
	// wh_x exists with job k_old; a Put of wh_x with job k_new is a
	// duplicate by ID, and must not block another message with k_new.
	if ok, err := ib.Put(ctx, &inbox.Message{ID: "wh_x", JobKey: "k_old"}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	for round := range 20 {
		msgs := []*inbox.Message{
			{ID: "wh_x", JobKey: "k_new"},
			{ID: "wh_y", JobKey: "k_new"},
		}
		results := make([]bool, len(msgs))
		var wg sync.WaitGroup
		for k, m := range msgs {
			wg.Go(func() {
				ok, err := ib.Put(context.Background(), m)
				if err != nil {
					t.Error(err)
				}
				results[k] = ok
			})
		}
		wg.Wait()
		if round == 0 && (results[0] || !results[1]) {
			t.Fatalf("Put(wh_x, k_new), Put(wh_y, k_new) = %v; want false, true", results)
		}
		if round > 0 && (results[0] || results[1]) {
			t.Fatalf("round %d: repeated Puts = %v; want both duplicates", round, results)
		}
	}
}

// A row the server cannot store (here an ID past PostgreSQL's index entry
// limit, which Put itself refuses before any SQL) fails only its own Put:
// the shared INSERT it broke is retried row by row.
func TestPutSharedBadRowFailsAlone(t *testing.T) {
	t.Parallel()
	ib, _ := newInbox(t, testPool(t), nil)
	ids := make([]string, 40)
	for k := range ids {
		ids[k] = fmt.Sprintf("wh_%02d", k)
	}
	// Random, so PostgreSQL cannot compress it under the limit.
	long := make([]byte, 3000)
	rand.Read(long)
	ids[17] = string(long)
	stored, errs := pginbox.PutShared(ib, ids)
	for k := range ids {
		switch {
		case k == 17 && errs[k] == nil:
			t.Errorf("the %d-byte ID was stored", len(ids[k]))
		case k != 17 && (errs[k] != nil || !stored[k]):
			t.Errorf("Put %s beside a bad row = %v, %v; want stored", ids[k], stored[k], errs[k])
		}
	}
	if n, err := ib.Depth(t.Context()); err != nil || n != len(ids)-1 {
		t.Errorf("Depth = %d, %v; want %d", n, err, len(ids)-1)
	}
}
