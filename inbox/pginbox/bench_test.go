package pginbox_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// BenchmarkListener measures deliveries accepted per second through the
// listener at 32 concurrent deliveries, and the p99 time to the 2xx, with
// workers acking every event as it arrives. memory is the baseline.
//
//	GEMINIHOOKS_TEST_POSTGRES=... go test -run '^$' -bench Listener -benchtime 5000x ./inbox/pginbox
func BenchmarkListener(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		benchListener(b, ib)
	})
	b.Run("postgres", func(b *testing.B) {
		ib, _ := newInbox(b, testPool(b), nil)
		benchListener(b, ib)
	})
}

const benchConcurrency = 32

func benchListener(b *testing.B, ib inbox.Inbox) {
	snd, verifier := newSender(b)
	l, err := listener.New(verifier, &listener.Config{Inbox: ib, PollInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error { return nil })
	runListener(b, l)
	// Requests are signed up front so the loop measures the listener.
	reqs := make([]*http.Request, b.N)
	for k := range reqs {
		d := newDelivery(b, fmt.Sprintf("wh_%d", k), k)
		ts := time.Now()
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(d.body))
		if err := (signing.Signer{Secrets: []string{snd.secret}}).Sign(r.Header, d.id, ts, d.body); err != nil {
			b.Fatal(err)
		}
		reqs[k] = r
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range benchConcurrency {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= b.N {
					return
				}
				w := httptest.NewRecorder()
				t0 := time.Now()
				l.ServeHTTP(w, reqs[k])
				lat[k] = time.Since(t0)
				if w.Code != http.StatusAccepted {
					b.Errorf("delivery %d: status %d", k, w.Code)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkPut measures Put alone at 32 concurrent callers.
func BenchmarkPut(b *testing.B) {
	ib, _ := newInbox(b, testPool(b), nil)
	body := bytes.Repeat([]byte("x"), 400)
	var next atomic.Int64
	b.SetParallelism(16) // 32 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ib.Put(context.Background(), &inbox.Message{ID: fmt.Sprint("wh_", next.Add(1)), Body: body}); err != nil {
				b.Error(err)
			}
		}
	})
}
