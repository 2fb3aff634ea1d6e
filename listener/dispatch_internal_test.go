package listener

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/signing"
)

// claimCounter is an inbox that records the n of every Claim.
type claimCounter struct {
	inbox.Store
	mu sync.Mutex
	ns []int
}

func (c *claimCounter) Claim(ctx context.Context, n int, lease time.Duration) ([]*inbox.Message, error) {
	c.mu.Lock()
	c.ns = append(c.ns, n)
	c.mu.Unlock()
	return c.Store.Claim(ctx, n, lease)
}

func (c *claimCounter) calls() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.ns...)
}

type noVerifier struct{}

func (noVerifier) Verify(context.Context, http.Header, []byte) (signing.Scheme, error) {
	return "", nil
}

// The dispatcher claims for every idle worker in one call (one round trip
// to PostgreSQL for the batch), and not at all while no worker is idle.
func TestDispatchClaimsForEveryIdleWorker(t *testing.T) {
	t.Parallel()
	mem, err := inbox.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	for k := range 8 {
		if _, err := mem.Put(t.Context(), &inbox.Message{ID: fmt.Sprintf("msg_%d", k), Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	ib := &claimCounter{Store: mem}
	l, err := New(noVerifier{}, &Config{Inbox: ib, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	d := newDispatcher()
	d.idle.Store(4) // four workers waiting
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.dispatch(ctx, d)
	}()
	for range 4 {
		<-d.jobs
	}
	// All four are busy now; two become idle again.
	d.idle.Add(2)
	d.free <- struct{}{}
	for range 2 {
		<-d.jobs
	}
	cancel()
	<-done
	if _, ok := <-d.jobs; ok {
		t.Error("jobs still open after dispatch returned")
	}
	if got, want := ib.calls(), []int{4, 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Claim asked for %v; want %v", got, want)
	}
}
