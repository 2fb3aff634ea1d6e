package boltinbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// BenchmarkListener measures deliveries accepted per second through the
// listener (ServeHTTP, signature check and Put) at 32 concurrent
// deliveries, and the p99 time to the 2xx, while the listener's workers
// claim and ack every event. memory is the baseline.
//
//	go test -run '^$' -bench Listener -benchtime 10000x ./inbox/boltinbox
func BenchmarkListener(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		benchListener(b, ib)
	})
	b.Run("bolt", func(b *testing.B) {
		ib, err := boltinbox.Open(filepath.Join(b.TempDir(), "inbox.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ib.Close()
		benchListener(b, ib)
	})
}

// BenchmarkPut measures Put alone at 32 concurrent callers.
func BenchmarkPut(b *testing.B) {
	ib, err := boltinbox.Open(filepath.Join(b.TempDir(), "inbox.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ib.Close()
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

const benchConcurrency = 32

func benchListener(b *testing.B, ib inbox.Inbox) {
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	verifier, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		b.Fatal(err)
	}
	l, err := listener.New(verifier, &listener.Config{Inbox: ib, PollInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	var run sync.WaitGroup
	run.Go(func() { l.Run(ctx) })
	defer func() {
		cancel()
		run.Wait()
	}()
	// Requests are signed up front so the loop measures the listener.
	reqs := make([]*http.Request, b.N)
	for k := range reqs {
		id := fmt.Sprintf("wh_%d", k)
		body, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: fmt.Sprintf("batches/%d", k)}, time.Now(), nil)
		if err != nil {
			b.Fatal(err)
		}
		ts := time.Now()
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if err := (signing.Signer{Secrets: []string{secret}}).Sign(r.Header, id, ts, body); err != nil {
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
