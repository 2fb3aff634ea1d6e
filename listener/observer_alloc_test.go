//go:build !race

package listener_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/metrics"
	"github.com/geminihooks/geminihooks/signing"
)

// Observing, even with the Prometheus observer, adds no allocation to the
// request path. (The race detector allocates on its own, hence the tag.)
func TestObserverAllocatesNothing(t *testing.T) {
	secret := newSecret(t)
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(o listener.Observer) float64 {
		v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
		if err != nil {
			t.Fatal(err)
		}
		ib := newMemory(t, &inbox.MemoryConfig{Capacity: 1 << 16})
		l := newListener(t, v, &listener.Config{Inbox: ib, Observer: o})
		reqs := prepare(t, secret, fmt.Sprint("a", o != nil), 1001)
		i := 0
		return testing.AllocsPerRun(1000, func() {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(reqs[i].body))
			req.Header = reqs[i].header
			i++
			l.ServeHTTP(httptest.NewRecorder(), req)
		})
	}
	plain, observed := allocs(nil), allocs(m.Observer())
	if observed > plain {
		t.Errorf("ServeHTTP allocates %v times with metrics, %v without", observed, plain)
	}
}
