package geminihooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/event"
)

const createdJSON = `{"subscribed_events":["batch.succeeded","batch.failed"],"uri":"https://my-api.com/gemini-callback",
 "id":"95fy7kv40bvx7t0rm7p12jdciinp7f4bfhzz","name":"MyBatchWebhook",
 "new_signing_secret":"whsec_NnZ2aTU5MzdqOXY2bXFwZjgzb2R2cXM1Y3B6cTlyMnM=",
 "signing_secrets":[{"truncated_secret":"whsec_...MnM="}],"state":"enabled"}`

func TestWebhooksCreate(t *testing.T) {
	t.Parallel()
	c, f := setup(t, map[string]http.HandlerFunc{"POST /v1beta/webhooks": reply(200, createdJSON)})
	got, secret, err := c.Webhooks.Create(context.Background(), Webhook{
		URI:    "https://my-api.com/gemini-callback",
		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
		Name:   "MyBatchWebhook",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &Webhook{
		ID:             "95fy7kv40bvx7t0rm7p12jdciinp7f4bfhzz",
		Name:           "MyBatchWebhook",
		URI:            "https://my-api.com/gemini-callback",
		Events:         []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
		State:          StateEnabled,
		SigningSecrets: []SigningSecret{{Truncated: "whsec_...MnM="}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Create (-want +got):\n%s", d)
	}
	if secret != "whsec_NnZ2aTU5MzdqOXY2bXFwZjgzb2R2cXM1Y3B6cTlyMnM=" {
		t.Errorf("Create's secret is not the new_signing_secret sent")
	}
	req := f.last(t)
	if req.Key != testAPIKey {
		t.Errorf("x-goog-api-key = %q, want the client's key", req.Key)
	}
	wantBody := `{"uri":"https://my-api.com/gemini-callback","subscribed_events":["batch.succeeded","batch.failed"],"name":"MyBatchWebhook"}`
	if d := cmp.Diff(jsonValue(t, []byte(wantBody)), jsonValue(t, req.Body)); d != "" {
		t.Errorf("body (-want +got):\n%s", d)
	}
}

func TestWebhooksCreateRejectsBadSpec(t *testing.T) {
	t.Parallel()
	c, f := setup(t, nil)
	for name, spec := range map[string]Webhook{
		"http":       {URI: "http://example.com/h", Events: []event.Type{event.TypeBatchFailed}},
		"no events":  {URI: "https://example.com/h"},
		"empty type": {URI: "https://example.com/h", Events: []event.Type{""}},
		"duplicate":  {URI: "https://example.com/h", Events: []event.Type{event.TypeBatchFailed, event.TypeBatchFailed}},
		"no uri":     {Events: []event.Type{event.TypeBatchFailed}},
	} {
		if _, _, err := c.Webhooks.Create(context.Background(), spec); err == nil {
			t.Errorf("%s: Create succeeded", name)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid specs", n)
	}
}

func TestWebhooksGetTolerates(t *testing.T) {
	t.Parallel()
	body := `{"id":"abc","uri":"https://x.example/h","subscribed_events":["batch.succeeded","batch.someday"],
	"state":"paused_for_review","create_time":"","update_time":null,"unknown":{"a":1},
	"signing_secrets":[{"truncated_secret":"whsec_...abcd","expire_time":"2026-05-05T10:00:00.5Z"},{"truncated_secret":"whsec_...efgh","expire_time":"yesterday"}]}`
	c, f := setup(t, map[string]http.HandlerFunc{"GET /v1beta/webhooks/abc": reply(200, body)})
	got, err := c.Webhooks.Get(context.Background(), "webhooks/abc")
	if err != nil {
		t.Fatal(err)
	}
	want := &Webhook{
		ID:     "abc",
		URI:    "https://x.example/h",
		Events: []event.Type{event.TypeBatchSucceeded, "batch.someday"},
		State:  "paused_for_review",
		SigningSecrets: []SigningSecret{
			{Truncated: "whsec_...abcd", ExpireTime: time.Date(2026, 5, 5, 10, 0, 0, 5e8, time.UTC)},
			{Truncated: "whsec_...efgh"},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Get (-want +got):\n%s", d)
	}
	if got.State == StateEnabled || got.State == StateDisabled || got.State == StateDisabledDueToFailedDeliveries {
		t.Error("unknown state read as a documented one")
	}
	if f.last(t).Method != http.MethodGet {
		t.Error("Get did not send GET")
	}
}

func TestWebhooksUpdateMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		call     func(*WebhooksService) (*Webhook, error)
		wantMask string
		wantBody string
	}{
		{"name", func(s *WebhooksService) (*Webhook, error) {
			return s.Update(context.Background(), "w1", WebhookUpdate{Name: new("renamed")})
		}, "name", `{"name":"renamed"}`},
		{"uri and state", func(s *WebhooksService) (*Webhook, error) {
			return s.Update(context.Background(), "w1", WebhookUpdate{URI: new("https://new.example/h"), State: new(StateDisabled)})
		}, "uri,state", `{"uri":"https://new.example/h","state":"disabled"}`},
		{"events", func(s *WebhooksService) (*Webhook, error) {
			return s.Update(context.Background(), "w1", WebhookUpdate{Events: []event.Type{event.TypeVideoGenerated}})
		}, "subscribed_events", `{"subscribed_events":["video.generated"]}`},
		{"all", func(s *WebhooksService) (*Webhook, error) {
			return s.Update(context.Background(), "w1", WebhookUpdate{Name: new(""), URI: new("https://a.example/"), Events: []event.Type{"x.y"}, State: new(StateEnabled)})
		}, "name,uri,subscribed_events,state", `{"name":"","uri":"https://a.example/","subscribed_events":["x.y"],"state":"enabled"}`},
		{"enable", func(s *WebhooksService) (*Webhook, error) {
			return s.Update(context.Background(), "w1", WebhookUpdate{State: new(StateEnabled)})
		}, "state", `{"state":"enabled"}`},
		{"disable", func(s *WebhooksService) (*Webhook, error) {
			return s.Update(context.Background(), "w1", WebhookUpdate{State: new(StateDisabled)})
		}, "state", `{"state":"disabled"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, f := setup(t, map[string]http.HandlerFunc{
				"PATCH /v1beta/webhooks/w1": reply(200, `{"id":"w1","uri":"https://a.example/","subscribed_events":["batch.failed"],"state":"enabled"}`),
			})
			w, err := tt.call(c.Webhooks)
			if err != nil {
				t.Fatal(err)
			}
			if w.ID != "w1" {
				t.Errorf("ID = %q", w.ID)
			}
			req := f.last(t)
			q, _ := url.ParseQuery(req.Query)
			if got := q.Get("update_mask"); got != tt.wantMask {
				t.Errorf("update_mask = %q, want %q", got, tt.wantMask)
			}
			if d := cmp.Diff(jsonValue(t, []byte(tt.wantBody)), jsonValue(t, req.Body)); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}
		})
	}
}

func TestWebhooksUpdateRejects(t *testing.T) {
	t.Parallel()
	c, f := setup(t, nil)
	for name, u := range map[string]WebhookUpdate{
		"nothing":      {},
		"empty events": {Events: []event.Type{}},
		"empty state":  {State: new(State(""))},
		"http uri":     {URI: new("http://example.com/")},
	} {
		if _, err := c.Webhooks.Update(context.Background(), "w1", u); err == nil {
			t.Errorf("%s: Update succeeded", name)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid updates", n)
	}
}

// pagedWebhooks serves n webhooks in pages, honouring page_size and
// page_token the way the API does.
func pagedWebhooks(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		size := 50
		fmt.Sscan(r.URL.Query().Get("page_size"), &size)
		start := 0
		if tok := r.URL.Query().Get("page_token"); tok != "" {
			fmt.Sscanf(tok, "tok-%d", &start)
		}
		var out struct {
			Webhooks []map[string]any `json:"webhooks"`
			Next     string           `json:"next_page_token,omitempty"`
		}
		for i := start; i < n && i < start+size; i++ {
			out.Webhooks = append(out.Webhooks, map[string]any{"id": fmt.Sprintf("w%d", i), "uri": "https://x.example/", "subscribed_events": []string{"batch.failed"}, "state": "enabled"})
		}
		if start+size < n {
			out.Next = fmt.Sprintf("tok-%d", start+size)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}
}

func TestWebhooksListAndAll(t *testing.T) {
	t.Parallel()
	c, f := setup(t, map[string]http.HandlerFunc{"GET /v1beta/webhooks": pagedWebhooks(7)})
	ctx := context.Background()

	page, err := c.Webhooks.List(ctx, &ListOptions{PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Webhooks) != 3 || page.NextPageToken != "tok-3" {
		t.Fatalf("first page: %d webhooks, next %q", len(page.Webhooks), page.NextPageToken)
	}
	if q := f.last(t).Query; q != "page_size=3" {
		t.Errorf("query = %q", q)
	}

	opts := &ListOptions{PageSize: 3}
	var ids []string
	for w, err := range c.Webhooks.All(ctx, opts) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, w.ID)
	}
	if d := cmp.Diff([]string{"w0", "w1", "w2", "w3", "w4", "w5", "w6"}, ids); d != "" {
		t.Errorf("All ids (-want +got):\n%s", d)
	}
	if *opts != (ListOptions{PageSize: 3}) {
		t.Errorf("All changed the caller's options to %+v", *opts)
	}

	// Stopping early fetches no further page.
	before := len(f.requests())
	for range c.Webhooks.All(ctx, opts) {
		break
	}
	if n := len(f.requests()) - before; n != 1 {
		t.Errorf("breaking after the first item made %d requests, want 1", n)
	}
}

func TestWebhooksAllStopsOnRepeatedToken(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, map[string]http.HandlerFunc{
		"GET /v1beta/webhooks": reply(200, `{"webhooks":[{"id":"a"}],"next_page_token":"same"}`),
	})
	var n int
	var last error
	for _, err := range c.Webhooks.All(context.Background(), &ListOptions{PageToken: "same"}) {
		n++
		last = err
	}
	if last == nil || n != 2 {
		t.Errorf("got %d items, last error %v; want one webhook then an error", n, last)
	}
}

// A server that cycles between tokens (a, b, a, ...) must not keep All
// fetching forever: any token seen before ends the walk with an error.
func TestWebhooksAllStopsOnTokenCycle(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c, _ := setup(t, map[string]http.HandlerFunc{
		"GET /v1beta/webhooks": func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			if n > 10 {
				http.Error(w, `{"error":{"code":500,"message":"runaway"}}`, 500)
				return
			}
			next := "a"
			if r.URL.Query().Get("page_token") == "a" {
				next = "b"
			}
			fmt.Fprintf(w, `{"webhooks":[{"id":"w%d"}],"next_page_token":%q}`, n, next)
		},
	})
	var ids []string
	var last error
	for w, err := range c.Webhooks.All(context.Background(), nil) {
		if err != nil {
			last = err
			continue
		}
		ids = append(ids, w.ID)
	}
	if last == nil || !strings.Contains(last.Error(), "repeated a page token") {
		t.Fatalf("last error = %v, want the repeated page token error", last)
	}
	if d := cmp.Diff([]string{"w1", "w2", "w3"}, ids); d != "" {
		t.Errorf("ids (-want +got):\n%s", d)
	}
}

func TestWebhooksListRejectsNegativePageSize(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, nil)
	if _, err := c.Webhooks.List(context.Background(), &ListOptions{PageSize: -1}); err == nil {
		t.Error("List accepted a negative page size")
	}
}

func TestWebhooksDeletePingRotate(t *testing.T) {
	t.Parallel()
	c, f := setup(t, map[string]http.HandlerFunc{
		"DELETE /v1beta/webhooks/w1":                    reply(200, `{}`),
		"POST /v1beta/webhooks/w1:ping":                 reply(200, `{}`),
		"POST /v1beta/webhooks/w1:rotateSigningSecret":  reply(200, `{"secret":"whsec_bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2VjcmV0MTI="}`),
		"POST /v1beta/webhooks/bad:rotateSigningSecret": reply(200, `{}`),
	})
	ctx := context.Background()
	if err := c.Webhooks.Delete(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if r := f.last(t); r.Method != http.MethodDelete || r.Path != "/v1beta/webhooks/w1" {
		t.Errorf("Delete sent %s %s", r.Method, r.Path)
	}
	if err := c.Webhooks.Ping(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if r := f.last(t); r.Path != "/v1beta/webhooks/w1:ping" || string(r.Body) != "{}" {
		t.Errorf("Ping sent %s %s", r.Path, r.Body)
	}
	for _, tt := range []struct {
		revokeAfter time.Duration
		wire        string
	}{
		{24 * time.Hour, "revoke_previous_secrets_after_h24"},
		{0, "revoke_previous_secrets_immediately"},
	} {
		secret, err := c.Webhooks.RotateSigningSecret(ctx, "w1", tt.revokeAfter)
		if err != nil {
			t.Fatal(err)
		}
		if string(secret) != "whsec_bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2VjcmV0MTI=" {
			t.Errorf("secret = %q", string(secret))
		}
		want := fmt.Sprintf(`{"revocation_behavior":%q}`, tt.wire)
		if d := cmp.Diff(jsonValue(t, []byte(want)), jsonValue(t, f.last(t).Body)); d != "" {
			t.Errorf("rotate body (-want +got):\n%s", d)
		}
	}
	for _, d := range []time.Duration{time.Hour, -24 * time.Hour, 48 * time.Hour} {
		if _, err := c.Webhooks.RotateSigningSecret(ctx, "w1", d); err == nil || !strings.Contains(err.Error(), "revokeAfter") {
			t.Errorf("revokeAfter %v: %v; want it refused by name", d, err)
		}
	}
	if _, err := c.Webhooks.RotateSigningSecret(ctx, "bad", 0); err == nil {
		t.Error("an answer without a secret was accepted")
	}
}

func TestWebhookIDValidation(t *testing.T) {
	t.Parallel()
	c, f := setup(t, nil)
	for _, id := range []string{"", "a/b", "../x", "a:ping", "a?b", "webhooks/"} {
		if _, err := c.Webhooks.Get(context.Background(), id); err == nil {
			t.Errorf("Get(%q) succeeded", id)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid ids", n)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	const secret = "whsec_NnZ2aTU5MzdqOXY2bXFwZjgzb2R2cXM1Y3B6cTlyMnM="
	s := Secret(secret)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("created", "secret", s, "ptr", &s)
	for _, p := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %X %d %10s %T", s, s, s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v", &s, []Secret{s}), fmt.Sprintf("%#v", struct{ S Secret }{s}), logged.String()} {
		if strings.Contains(p, "NnZ2aTU5") || strings.Contains(p, "4e6e5a32") || strings.Contains(p, "4E6E5A32") {
			t.Errorf("secret printed: %s", p)
		}
	}
	if got := fmt.Sprintf("%v %#v %q", s, s, s); got != `whsec_[redacted] geminihooks.Secret("whsec_[redacted]") "whsec_[redacted]"` {
		t.Errorf("printed as %s", got)
	}
	if string(s) != secret {
		t.Error("string(Secret) does not give the secret")
	}
}

// slog's JSON handler encodes a value with encoding/json, which would write
// the secret as is.
func TestSecretNeverLoggedAsJSON(t *testing.T) {
	t.Parallel()
	const secret = "whsec_NnZ2aTU5MzdqOXY2bXFwZjgzb2R2cXM1Y3B6cTlyMnM="
	s := Secret(secret)
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("created", "webhook", "wh1", "secret", s)
	if strings.Contains(logged.String(), "NnZ2aTU5") {
		t.Errorf("secret logged: %s", logged.String())
	}
	if !strings.Contains(logged.String(), `"wh1"`) {
		t.Errorf("log lost the webhook: %s", logged.String())
	}
	b, err := json.Marshal(struct{ Secret Secret }{s})
	if err != nil || !strings.Contains(string(b), secret) {
		t.Errorf("json.Marshal = %s, %v; want the secret kept for storage", b, err)
	}
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	if _, err := NewClient(nil, nil); err == nil {
		t.Error("NewClient(nil) succeeded")
	}
	gc := newTestClient(t, "https://example.invalid", testAPIKey, nil).common.client.gc
	if _, err := NewClient(gc, &Config{TrackStatic: true}); err == nil || !strings.Contains(err.Error(), "Config.TrackStatic") {
		t.Errorf("TrackStatic without a Ledger: %v; want it refused by name", err)
	}
	if _, err := NewClient(gc, nil); err != nil {
		t.Errorf("nil config rejected: %v", err)
	}
	if _, err := NewClient(gc, &Config{Logger: slog.Default(), InsecureLoopbackHTTP: true}); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
	vertex, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: testAPIKey, Backend: genai.BackendVertexAI})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewClient(vertex, nil); err == nil {
		t.Error("a Vertex AI client accepted")
	}
}

func TestWebhookJSON(t *testing.T) {
	t.Parallel()
	w := Webhook{ID: "a", URI: "https://x.example/", Events: []event.Type{event.TypeBatchFailed}, State: StateEnabled}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"a","uri":"https://x.example/","events":["batch.failed"],"state":"enabled"}`
	if d := cmp.Diff(jsonValue(t, []byte(want)), jsonValue(t, b)); d != "" {
		t.Errorf("JSON (-want +got):\n%s", d)
	}
}

// FuzzDecodeWebhook feeds the API's webhook resource decoder arbitrary
// answers: it may reject them, but must not panic, and what it accepts
// converts to a Webhook whose ID carries no "webhooks/" prefix.
func FuzzDecodeWebhook(f *testing.F) {
	for _, s := range []string{createdJSON, `{}`, `null`, `{"create_time":""}`, `{"create_time":123}`,
		`{"signing_secrets":[{"expire_time":"2026-13-45T00:00:00Z"}]}`, `{"id":"webhooks/abc","state":7}`,
		`{"subscribed_events":[null,"a"]}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var w wireWebhook
		if json.Unmarshal(b, &w) != nil {
			return
		}
		got := w.webhook()
		if strings.HasPrefix(got.ID, "webhooks/") {
			t.Errorf("ID %q keeps its prefix", got.ID)
		}
		if len(got.Events) != len(w.SubscribedEvents) || len(got.SigningSecrets) != len(w.SigningSecrets) {
			t.Error("events or secrets lost in conversion")
		}
	})
}

// TestWebhookResourceVariants checks the resource shapes the documentation
// shows besides the SDKs' flat one with an id: named only by
// "webhooks/{id}", and wrapped as {"webhook": {...}}.
func TestWebhookResourceVariants(t *testing.T) {
	t.Parallel()
	const flat = `{"id":"k0h9","name":"MyBatchWebhook","uri":"https://x.example/h","subscribed_events":["batch.succeeded"],"state":"enabled","new_signing_secret":"whsec_c2VjcmV0"}`
	tests := []struct {
		name, body string
		wantID     string
		wantName   string
	}{
		{"flat", flat, "k0h9", "MyBatchWebhook"},
		{"name only", `{"name":"webhooks/k0h9","uri":"https://x.example/h","subscribed_events":["batch.succeeded"],"state":"enabled","new_signing_secret":"whsec_c2VjcmV0"}`, "k0h9", ""},
		{"wrapped", `{"webhook":` + flat + `}`, "k0h9", "MyBatchWebhook"},
		{"wrapped, secret outside", `{"webhook":{"name":"webhooks/k0h9","uri":"https://x.example/h","subscribed_events":["batch.succeeded"],"state":"enabled"},"new_signing_secret":"whsec_c2VjcmV0"}`, "k0h9", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, map[string]http.HandlerFunc{
				"POST /v1beta/webhooks":     reply(200, tt.body),
				"GET /v1beta/webhooks/k0h9": reply(200, tt.body),
				"GET /v1beta/webhooks":      reply(200, `{"webhooks":[`+tt.body+`]}`),
			})
			want := &Webhook{ID: tt.wantID, Name: tt.wantName, URI: "https://x.example/h", Events: []event.Type{event.TypeBatchSucceeded}, State: StateEnabled}
			created, secret, err := c.Webhooks.Create(t.Context(), Webhook{URI: "https://x.example/h", Events: []event.Type{event.TypeBatchSucceeded}})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, created); d != "" || secret != "whsec_c2VjcmV0" {
				t.Errorf("Create (-want +got):\n%s\nsecret present: %t", d, secret != "")
			}
			got, err := c.Webhooks.Get(t.Context(), tt.wantID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("Get (-want +got):\n%s", d)
			}
			page, err := c.Webhooks.List(t.Context(), nil)
			if err != nil || len(page.Webhooks) != 1 {
				t.Fatalf("List = %+v, %v", page, err)
			}
			if d := cmp.Diff(want, page.Webhooks[0]); d != "" {
				t.Errorf("List (-want +got):\n%s", d)
			}
		})
	}
}

// A registered webhook's bad URI is named once, as a URI, not as a
// callback, and still matches ErrInvalidArgument.
func TestWebhookURIErrors(t *testing.T) {
	t.Parallel()
	c, f := setup(t, nil)
	_, _, err := c.Webhooks.Create(t.Context(), Webhook{URI: "http://a.example/h?token=s3cret", Events: []event.Type{event.TypeBatchSucceeded}})
	if want := "geminihooks: create webhook: invalid uri http://a.example/h: must use https"; err == nil || err.Error() != want {
		t.Errorf("Create: %v; want %q", err, want)
	}
	if !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Create: %v does not match ErrInvalidArgument", err)
	}
	_, err = c.Webhooks.Update(t.Context(), "w1", WebhookUpdate{URI: new("/relative")})
	if want := "geminihooks: update webhook: invalid uri /relative: not absolute"; err == nil || err.Error() != want {
		t.Errorf("Update: %v; want %q", err, want)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
