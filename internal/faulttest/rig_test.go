package faulttest

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// replica is one in-process listener whose handler records into the ledger, served by an httptest
// server and run until the test ends.
type replica struct {
	l   *listener.Listener
	srv *httptest.Server
}

// newListener returns a listener on v with cfg, failing the test on an error.
func newListener(t *testing.T, v *signing.Verifier, cfg *listener.Config) *listener.Listener {
	t.Helper()
	l, err := listener.New(v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func startReplica(t *testing.T, l *listener.Listener, led *ledger) *replica {
	t.Helper()
	return startReplicaOn(t, l, httptest.NewServer(l), led)
}

// startReplicaOn is startReplica on a server the caller configured and started.
func startReplicaOn(t *testing.T, l *listener.Listener, srv *httptest.Server, led *ledger) *replica {
	t.Helper()
	l.On(event.TypeBatchSucceeded, func(_ context.Context, e *event.Event) error {
		led.process(e.ID)
		return nil
	})
	return serveReplica(t, l, srv)
}

// serveReplica runs l's workers and stops them, then srv, when the test ends.
func serveReplica(t *testing.T, l *listener.Listener, srv *httptest.Server) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listener Run: %v", err)
		}
	})
	return &replica{l: l, srv: srv}
}
