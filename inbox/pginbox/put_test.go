package pginbox_test

import (
	"context"
	"sync"
	"testing"

	"github.com/geminihooks/geminihooks/inbox"
)

// TestPutSharedStatementDecidesLikeSeparateOnes sends Puts that share
// commits and whose conflicts depend on one another: each must get the
// answer it would get alone, in some order.
func TestPutSharedStatementDecidesLikeSeparateOnes(t *testing.T) {
	t.Parallel()
	ib, _ := newInbox(t, testPool(t))
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
