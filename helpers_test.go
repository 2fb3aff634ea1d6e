package geminihooks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"google.golang.org/genai"
)

const testAPIKey = "AIzaTestKey0123456789abcdefghijklmnopq"

// recorded is one request a fake server received.
type recorded struct {
	Method string
	Path   string
	Query  string
	Key    string
	Body   []byte
}

// fake is an httptest server standing in for the Gemini API: handlers by
// "METHOD /path", and a log of what was received.
type fake struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []recorded
}

// setup starts a fake serving routes and returns a Client pointed at it.
func setup(t *testing.T, routes map[string]http.HandlerFunc) (*Client, *fake) {
	t.Helper()
	f := &fake{}
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, h)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("x-goog-api-key"), body})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return newTestClient(t, f.srv.URL, testAPIKey, nil), f
}

func newTestClient(t *testing.T, baseURL, key string, cfg *Config) *Client {
	t.Helper()
	gc, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: baseURL},
	})
	if err != nil {
		t.Fatalf("genai.NewClient: %v", err)
	}
	c, err := NewClient(gc, cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.got...)
}

// last returns the last request, failing the test when there is none.
func (f *fake) last(t *testing.T) recorded {
	t.Helper()
	got := f.requests()
	if len(got) == 0 {
		t.Fatal("the fake received no request")
	}
	return got[len(got)-1]
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// jsonValue decodes b for comparison with cmp.Diff, so key order and spacing
// do not matter.
func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}
