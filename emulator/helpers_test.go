package emulator_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/emulator"
	"google.golang.org/genai"
)

// newServer starts an emulator that delivers to http loopback receivers and
// closes it when the test ends.
func newServer(t *testing.T, opts ...emulator.Option) *emulator.Server {
	t.Helper()
	s, err := emulator.NewServer(append([]emulator.Option{emulator.WithAllowHTTPLoopback()}, opts...)...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// newClient is the unmodified genai client pointed at s.
func newClient(t *testing.T, s *emulator.Server) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey:      s.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.URL},
	})
	if err != nil {
		t.Fatalf("genai.NewClient: %v", err)
	}
	return c
}

// received is one delivery as an endpoint saw it.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that records every delivery on a channel
// and answers with a settable status code.
type receiver struct {
	*httptest.Server
	got    chan received
	status atomic.Int32
}

func newReceiver(t *testing.T, buffer int) *receiver {
	t.Helper()
	r := &receiver{got: make(chan received, buffer)}
	r.status.Store(http.StatusNoContent)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return // a cut connection: the sender sees the failure
		}
		code := int(r.status.Load())
		select {
		case r.got <- received{req.Header.Clone(), body}:
		default:
			t.Errorf("receiver buffer full")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

// next waits for the next delivery.
func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case d := <-r.got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
		return received{}
	}
}

// none asserts that nothing more has been delivered. Call it after Idle.
func (r *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case d := <-r.got:
		t.Fatalf("unexpected delivery: %s", d.body)
	default:
	}
}

func idle(t *testing.T, s *emulator.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.Idle(ctx); err != nil {
		t.Fatalf("Idle: %v", err)
	}
}

func signatures(h http.Header) []string { return strings.Fields(h.Get("webhook-signature")) }

func newServerNoLoopback(t *testing.T, opts ...emulator.Option) (*emulator.Server, error) {
	t.Helper()
	s, err := emulator.NewServer(opts...)
	if err == nil {
		t.Cleanup(s.Close)
	}
	return s, err
}
