package boltinbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
)

// A delivery stored, handled and acked is remembered across a restart, so
// a late retry of it is still recognised as a duplicate.
func Example() {
	dir, err := os.MkdirTemp("", "boltinbox")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "inbox.db")
	ctx := context.Background()

	ib, err := boltinbox.Open(path, nil)
	if err != nil {
		panic(err)
	}
	stored, _ := ib.Put(ctx, &inbox.Message{ID: "wh_1", Body: []byte(`{"type":"batch.succeeded"}`)})
	again, _ := ib.Put(ctx, &inbox.Message{ID: "wh_1", Body: []byte(`{"type":"batch.succeeded"}`)})
	fmt.Println("stored:", stored, "duplicate stored:", again)

	ms, _ := ib.Claim(ctx, 10, time.Minute)
	fmt.Println("claimed:", ms[0].ID, "attempt", ms[0].Attempts)
	if err := ib.Ack(ctx, ms[0].ID, ms[0].Lease); err != nil {
		panic(err)
	}
	ib.Close()

	ib, err = boltinbox.Open(path, nil)
	if err != nil {
		panic(err)
	}
	defer ib.Close()
	late, _ := ib.Put(ctx, &inbox.Message{ID: "wh_1"})
	m, _ := ib.Get(ctx, "wh_1")
	fmt.Println("after restart: late retry stored:", late, "state:", m.State)
	// Output:
	// stored: true duplicate stored: false
	// claimed: wh_1 attempt 1
	// after restart: late retry stored: false state: done
}
