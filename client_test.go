package geminihooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genai"
)

// TestRetryFollowsGenAIOptions checks that webhook calls retry only when the
// genai client was configured to, and then as genai does.
func TestRetryFollowsGenAIOptions(t *testing.T) {
	t.Parallel()
	zero := 0.0
	three := int32(3)
	noDelay := &genai.HTTPRetryOptions{Attempts: &three, InitialDelay: &zero, MaxDelay: &zero, Jitter: &zero}
	tests := []struct {
		name      string
		retry     *genai.HTTPRetryOptions
		failFirst int // answers of 503 before a 200
		status    int // the failing status
		wantCalls int32
		wantCode  int // the *APIError's status code; 0 for success
	}{
		{"no retry options: one attempt", nil, 1, 503, 1, 503},
		{"recovers after two 503s", noDelay, 2, 503, 3, 0},
		{"gives up after the attempts", noDelay, 5, 429, 3, 429},
		{"404 is not retried", noDelay, 5, 404, 1, 404},
		{"custom codes", &genai.HTTPRetryOptions{Attempts: &three, InitialDelay: &zero, MaxDelay: &zero, Jitter: &zero, HTTPStatusCodes: []int32{404}}, 1, 404, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var bodies []string // written by the handler, one request at a time
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				b := make([]byte, 64)
				k, _ := r.Body.Read(b)
				bodies = append(bodies, string(b[:k]))
				if int(n) <= tt.failFirst {
					reply(tt.status, `{"error":{"message":"try later"}}`)(w, r)
					return
				}
				reply(200, `{}`)(w, r)
			}))
			t.Cleanup(srv.Close)
			gc, err := genai.NewClient(context.Background(), &genai.ClientConfig{
				APIKey: testAPIKey, Backend: genai.BackendGeminiAPI,
				HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL, RetryOptions: tt.retry},
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(gc, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Webhooks.Ping(context.Background(), "w1")
			if calls.Load() != tt.wantCalls {
				t.Errorf("%d requests, want %d", calls.Load(), tt.wantCalls)
			}
			var api *APIError
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Errorf("error %v after recovering", err)
			case tt.wantCode != 0 && (!errors.As(err, &api) || api.StatusCode != tt.wantCode):
				t.Errorf("error %v, want an APIError with status %d", err, tt.wantCode)
			}
			for i, b := range bodies {
				if b != "{}" {
					t.Errorf("attempt %d sent body %q", i+1, b)
				}
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	one, two, zero, five := 1.0, 2.0, 0.0, 5.0
	opts := &genai.HTTPRetryOptions{InitialDelay: &one, ExpBase: &two, Jitter: &zero, MaxDelay: &five}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second} {
		if got := retryDelay(attempt, opts); got != want {
			t.Errorf("retryDelay(%d) = %v, want %v", attempt, got, want)
		}
	}
	withJitter := &genai.HTTPRetryOptions{InitialDelay: &one, ExpBase: &two, Jitter: &one, MaxDelay: &five}
	if got := retryDelay(1, withJitter); got < time.Second || got > 2*time.Second {
		t.Errorf("jittered first delay %v outside [1s, 2s]", got)
	}
}

// fmt prints a struct's unexported fields, the API key among them, whatever
// methods their types have: the Client itself must hide them.
func TestClientNeverPrintsKey(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, "https://example.invalid", testAPIKey, nil)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("client", "client", c, "value", *c)
	for _, s := range []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v", c, c, c),
		fmt.Sprintf("%v %+v %#v", *c, *c, *c), logged.String(),
	} {
		if strings.Contains(s, testAPIKey) {
			t.Errorf("API key printed: %s", s)
		}
	}
}

// TestEveryCallUsesTheClientAPIVersion checks that whatever version genai
// is set to (genai v1.78 and later default to v1), every call goes to
// v1beta, or to Config.APIVersion.
func TestEveryCallUsesTheClientAPIVersion(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		genaiVersion string
		cfg          *Config
		want         string
	}{
		{"genai default", "", nil, "v1beta"},
		{"genai on v1", "v1", nil, "v1beta"},
		{"Config.APIVersion", "v1", &Config{APIVersion: "v1alpha"}, "v1alpha"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var paths []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.Method+" "+r.URL.Path)
				mu.Unlock()
				switch {
				case strings.Contains(r.URL.Path, "batchGenerateContent"), strings.Contains(r.URL.Path, "/batches/"):
					reply(200, `{"name":"batches/b1","metadata":{"name":"batches/b1","state":"BATCH_STATE_PENDING"}}`)(w, r)
				case strings.Contains(r.URL.Path, "/operations/"), strings.Contains(r.URL.Path, "predictLongRunning"):
					reply(200, `{"name":"models/veo/operations/op1"}`)(w, r)
				case strings.Contains(r.URL.Path, "/interactions"):
					reply(200, `{"id":"int_1","status":"in_progress"}`)(w, r)
				default:
					reply(200, `{}`)(w, r)
				}
			}))
			t.Cleanup(srv.Close)
			gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
				APIKey: testAPIKey, Backend: genai.BackendGeminiAPI,
				HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL, APIVersion: tt.genaiVersion},
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(gc, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			calls := []func() error{
				func() error { _, err := c.Webhooks.List(ctx, nil); return err },
				func() error { return c.Webhooks.Ping(ctx, "w1") },
				func() error {
					_, err := c.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{FileName: "files/in"}, nil, testCallback)
					return err
				},
				func() error { _, err := c.Batches.Get(ctx, "batches/b1"); return err },
				func() error {
					_, err := c.Videos.Generate(ctx, "veo", &genai.GenerateVideosSource{Prompt: "p"}, nil, testCallback)
					return err
				},
				func() error { _, err := c.Videos.Get(ctx, "models/veo/operations/op1"); return err },
				func() error {
					_, err := c.Interactions.Create(ctx, InteractionRequest{Model: "gemini-2.5-flash", Input: "hi"}, testCallback)
					return err
				},
				func() error { _, err := c.Interactions.Get(ctx, "int_1"); return err },
			}
			for i, call := range calls {
				if err := call(); err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(paths) != len(calls) {
				t.Fatalf("%d requests for %d calls: %q", len(paths), len(calls), paths)
			}
			for _, p := range paths {
				if !strings.Contains(p, " /"+tt.want+"/") {
					t.Errorf("%s: not on /%s/", p, tt.want)
				}
			}
		})
	}
}

func TestConfigAPIVersionValidates(t *testing.T) {
	t.Parallel()
	gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{APIKey: testAPIKey, Backend: genai.BackendGeminiAPI})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"beta", "v1/../v2", "v1beta/", "V1", "v1beta?x=1"} {
		_, err := NewClient(gc, &Config{APIVersion: v})
		if err == nil {
			t.Errorf("Config.APIVersion %q accepted", v)
		} else if !strings.Contains(err.Error(), "Config.APIVersion") {
			t.Errorf("Config.APIVersion %q: error %q does not name the field", v, err)
		}
	}
	// "" is the default, v1beta.
	for _, v := range []string{"", "v1", "v1beta", "v1alpha", "v2beta1"} {
		if _, err := NewClient(gc, &Config{APIVersion: v}); err != nil {
			t.Errorf("Config.APIVersion %q: %v", v, err)
		}
	}
}
