package inbox_test

import (
	"context"
	"fmt"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
)

func ExampleNewMemory() {
	ctx := context.Background()
	ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 100})
	if err != nil {
		panic(err)
	}
	defer ib.Close()

	// The listener stores a delivery before it answers 2xx...
	stored, _ := ib.Put(ctx, &inbox.Message{ID: "msg_1", Body: []byte(`{"type":"batch.succeeded"}`)})
	again, _ := ib.Put(ctx, &inbox.Message{ID: "msg_1", Body: []byte(`{"type":"batch.succeeded"}`)})
	fmt.Println("stored:", stored, "retry stored:", again)

	// ...and a worker claims, handles and acks it.
	ms, _ := ib.Claim(ctx, 10, time.Minute)
	for _, m := range ms {
		fmt.Println("handling", m.ID, "attempt", m.Attempts)
		_ = ib.Ack(ctx, m.ID, m.Lease)
	}
	depth, _ := ib.Depth(ctx)
	fmt.Println("depth:", depth)
	// Output:
	// stored: true retry stored: false
	// handling msg_1 attempt 1
	// depth: 0
}
