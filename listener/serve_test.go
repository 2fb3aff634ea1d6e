package listener_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// gatedVerifier holds the verification of one webhook-id until released, so
// a test can keep that request in flight.
type gatedVerifier struct {
	*signing.Verifier
	id       string
	entered  chan struct{}
	released chan struct{}
}

func (g *gatedVerifier) Verify(ctx context.Context, h http.Header, body []byte) (signing.Scheme, error) {
	if h.Get(signing.HeaderID) == g.id {
		close(g.entered)
		<-g.released
	}
	return g.Verifier.Verify(ctx, h, body)
}

// A delivery still in flight when Serve's context ends is answered 2xx and
// handled before Serve returns, not lost: HTTP stops before the workers do,
// and what is left in the listener's own memory inbox when they stop (here
// the only worker is busy until Run's grace period cuts its handler short)
// is handled then. After Serve returns, nothing is served.
func TestServeHandlesDeliveriesAcceptedDuringShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{}) // for its secret and signed requests
	g := &gatedVerifier{Verifier: mustHMAC(t, h.secret), id: "msg_late", entered: make(chan struct{}), released: make(chan struct{})}
	l := newListener(t, g, &listener.Config{Workers: 1, PollInterval: time.Hour, GracePeriod: 500 * time.Millisecond})
	handled := make(chan string, 2)
	busy := make(chan struct{})
	l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		if e.ID == "msg_early" {
			close(busy)
			// The only worker stays busy until Run, stopped, cancels
			// its handler at the end of the grace period.
			<-ctx.Done()
		}
		handled <- e.ID
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, srv, ln) }()

	post := func(id string) (int, error) {
		req := h.request(id, time.Now(), h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/" + id}))
		req.URL.Host = ln.Addr().String()
		req.Host = req.URL.Host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post("msg_early"); err != nil || code != http.StatusAccepted {
		t.Fatalf("first delivery = %d, %v; want 202", code, err)
	}
	<-busy

	answered := make(chan int, 1)
	go func() {
		code, err := post("msg_late")
		if err != nil {
			t.Error(err)
		}
		answered <- code
	}()
	<-g.entered
	cancel() // shutdown begins with msg_late in flight
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.released)
	if code := <-answered; code != http.StatusAccepted {
		t.Fatalf("the delivery in flight at shutdown got %d; want 202", code)
	}
	if err := <-served; !errors.Is(err, listener.ErrGraceExpired) {
		t.Fatalf("Serve = %v; want ErrGraceExpired, from the handler cut short", err)
	}
	close(handled)
	var got []string
	for id := range handled {
		got = append(got, id)
	}
	if len(got) != 2 || got[0] != "msg_early" || got[1] != "msg_late" {
		t.Fatalf("handled %v before Serve returned; want msg_early, then msg_late, accepted during shutdown", got)
	}
	if st := l.Stats(); st.Stored != 2 || st.QueueDepth != 0 {
		t.Errorf("stored %d, depth %d; want 2, 0", st.Stored, st.QueueDepth)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("the server still answers after Serve returned")
	}
}

// Serve returns at once, with the error, when the server cannot serve.
func TestServeReturnsServerError(t *testing.T) {
	t.Parallel()
	l := newListener(t, mustHMAC(t, newSecret(t)), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Accept fails at once
	err = l.Serve(t.Context(), &http.Server{Handler: l}, ln)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve on a closed listener = %v; want its error", err)
	}
}
