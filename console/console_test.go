package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/console"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
)

// get requests path of the console with the given header and returns the
// status, the Location and the body. Redirects are not followed.
func get(t *testing.T, s *stack, method, path string, h http.Header, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.console.URL+"/console"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func bearer(s *stack) http.Header {
	return http.Header{"Authorization": {"Bearer " + s.c.Token()}}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, &console.Config{Token: "a-token-of-twenty-chars"})
	s.deliver("wh_1", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1"})
	tests := []struct {
		name, method, path string
		h                  http.Header
		want               int
		location           string
	}{
		{"no token", "GET", "/", nil, 401, ""},
		{"no token, events", "GET", "/events", nil, 401, ""},
		{"no token, detail", "GET", "/delivery?id=wh_1", nil, 401, ""},
		{"no token, replay", "POST", "/replay", nil, 401, ""},
		{"no token, static", "GET", "/static/console.js", nil, 401, ""},
		{"wrong token in the query", "GET", "/?token=not-the-token-at-all", nil, 401, ""},
		{"wrong bearer", "GET", "/", http.Header{"Authorization": {"Bearer not-the-token-at-all"}}, 401, ""},
		{"wrong cookie", "GET", "/", http.Header{"Cookie": {"geminihooks_console=nope"}}, 401, ""},
		{"token in the query sets the cookie and drops it", "GET", "/?token=a-token-of-twenty-chars&state=dead", nil, 303, "./?state=dead"},
		{"token in the query on the detail page", "GET", "/delivery?token=a-token-of-twenty-chars&id=wh_1", nil, 303, "./delivery?id=wh_1"},
		{"cookie", "GET", "/", http.Header{"Cookie": {"geminihooks_console=a-token-of-twenty-chars"}}, 200, ""},
		{"bearer", "GET", "/delivery?id=wh_1", http.Header{"Authorization": {"Bearer a-token-of-twenty-chars"}}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, loc, body := get(t, s, tt.method, tt.path, tt.h, nil)
			if code != tt.want || loc != tt.location {
				t.Errorf("%s %s = %d, Location %q; want %d, %q", tt.method, tt.path, code, loc, tt.want, tt.location)
			}
			if code == 401 && strings.Contains(body, "wh_1") {
				t.Errorf("a refused request shows a delivery: %q", body)
			}
		})
	}
}

// Actions refuse cross-site requests even with a valid credential, so a
// page elsewhere cannot make a logged-in browser replay events.
func TestActionsRefuseCrossSite(t *testing.T) {
	t.Parallel()
	done := make(chan struct{}, 10)
	s := newStack(t, func(l *listener.Listener) {
		l.On(event.TypeBatchFailed, func(context.Context, *event.Event) error {
			done <- struct{}{}
			return listener.Permanent(errors.New("no"))
		})
	}, nil)
	s.deliver("wh_x", &event.Batch{Type: event.TypeBatchFailed, ID: "batches/x"})
	s.waitState("wh_x", inbox.StateDead)
	<-done
	h := bearer(s)
	h.Set("Sec-Fetch-Site", "cross-site")
	if code, _, _ := get(t, s, "POST", "/replay", h, url.Values{"id": {"wh_x"}}); code != http.StatusForbidden {
		t.Errorf("cross-site replay = %d; want 403", code)
	}
	h = bearer(s)
	h.Set("Origin", "https://evil.example")
	if code, _, _ := get(t, s, "POST", "/replay", h, url.Values{"id": {"wh_x"}}); code != http.StatusForbidden {
		t.Errorf("replay from another origin = %d; want 403", code)
	}
	m, err := s.ib.Get(context.Background(), "wh_x")
	if err != nil || m.State != inbox.StateDead {
		t.Fatalf("after refused replays: %+v, %v; want still dead", m, err)
	}
	h = bearer(s)
	h.Set("Sec-Fetch-Site", "same-origin")
	code, loc, _ := get(t, s, "POST", "/replay", h, url.Values{"id": {"wh_x"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "msg=replayed") {
		t.Fatalf("same-origin replay = %d, %q", code, loc)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the replayed event never ran")
	}
}

// The detail page shows headers, but never a credential, and signatures
// only shortened.
func TestDetailShowsNoSecrets(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, nil)
	body, _ := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/s"}, time.Now(), nil)
	req, _ := http.NewRequest(http.MethodPost, s.hooks.URL, strings.NewReader(string(body)))
	now := time.Now()
	req.Header = s.signed("wh_s", now, body)
	req.Header.Set("Authorization", "Bearer upstream-credential-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sig := req.Header.Get("Webhook-Signature")
	code, _, page := get(t, s, "GET", "/delivery?id=wh_s", bearer(s), nil)
	if code != 200 {
		t.Fatalf("detail = %d", code)
	}
	for _, secret := range []string{"upstream-credential-123", sig[3:], s.secret, s.secret[6:]} {
		if strings.Contains(page, secret) {
			t.Errorf("the page shows %q", secret)
		}
	}
	// html/template writes + as &#43;.
	if short := strings.ReplaceAll(sig[:11], "+", "&#43;") + "…"; !strings.Contains(page, short) {
		t.Errorf("the page lacks the shortened signature %q", short)
	}
	if !strings.Contains(page, `&#34;id&#34;: &#34;batches/s&#34;`) {
		t.Errorf("the page lacks the pretty-printed body")
	}
}

func TestRedeliver(t *testing.T) {
	t.Parallel()
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
	}))
	defer target.Close()
	s := newStack(t, nil, nil)
	s.deliver("wh_r", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/r"})
	s.waitState("wh_r", inbox.StateDone)
	code, loc, _ := get(t, s, "POST", "/redeliver", bearer(s), url.Values{"id": {"wh_r"}, "url": {target.URL + "/hook"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "msg=redelivered") {
		t.Fatalf("redeliver = %d, %q", code, loc)
	}
	r := <-got
	if r.Header.Get("Webhook-Id") != "wh_r" || r.Header.Get("Geminihooks-Redelivery") != "console" || r.URL.Path != "/hook" {
		t.Errorf("re-delivered request: %s %v", r.URL, r.Header)
	}
	if b := <-bodies; !strings.Contains(b, `"batches/r"`) {
		t.Errorf("re-delivered body %q", b)
	}
	for _, bad := range []string{"", "ftp://x/y", "/relative", "http://"} {
		code, loc, _ := get(t, s, "POST", "/redeliver", bearer(s), url.Values{"id": {"wh_r"}, "url": {bad}})
		if code != http.StatusSeeOther || !strings.Contains(loc, "err=") {
			t.Errorf("redeliver to %q = %d, %q; want an error", bad, code, loc)
		}
	}
}

// With 100,000 stored events a page is one index walk, not a scan.
func TestPagesOver100kEvents(t *testing.T) {
	t.Parallel()
	// No listener: its workers would only churn through the events.
	ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 1 << 17})
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	c, err := console.New(ib, &console.Config{PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", c))
	s := &stack{t: t, ib: ib, c: c, console: httptest.NewServer(mux)}
	defer s.console.Close()
	ctx := context.Background()
	at := time.Now().Add(-time.Hour)
	for i := range 100000 {
		body := fmt.Appendf(nil, `{"type":"batch.succeeded","data":{"id":"batches/%d"}}`, i)
		if _, err := s.ib.Put(ctx, &inbox.Message{ID: fmt.Sprintf("wh_%06d", i), Body: body, Scheme: "v1", ReceivedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	link := regexp.MustCompile(`href="delivery\?id=(wh_\d+)"`)
	next := regexp.MustCompile(`href="\./\?(after=\d+)"`)
	path := "/"
	var seen []string
	for range 3 {
		start := time.Now()
		code, _, page := get(t, s, "GET", path, bearer(s), nil)
		took := time.Since(start)
		if code != 200 {
			t.Fatalf("GET %s = %d", path, code)
		}
		if took > 2*time.Second {
			t.Errorf("GET %s took %v with 100,000 events", path, took)
		}
		for _, m := range link.FindAllStringSubmatch(page, -1) {
			seen = append(seen, m[1])
		}
		n := next.FindStringSubmatch(page)
		if n == nil {
			t.Fatal("no link to the next page")
		}
		path = "/?" + n[1]
	}
	want := make([]string, 0, 150)
	for i := range 150 {
		want = append(want, fmt.Sprintf("wh_%06d", 99999-i))
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("three pages (-want +got):\n%s", diff)
	}
	if code, _, _ := get(t, s, "GET", "/?after=junk", bearer(s), nil); code != http.StatusBadRequest {
		t.Errorf("a junk cursor = %d; want 400", code)
	}
	if code, _, _ := get(t, s, "GET", "/?state=nonsense", bearer(s), nil); code != http.StatusBadRequest {
		t.Errorf("an unknown state = %d; want 400", code)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	ib := memInbox(t)
	tests := []struct {
		name    string
		ib      inbox.Admin
		cfg     *console.Config
		mention string
	}{
		{"nil inbox", nil, nil, "nil inbox"},
		{"short token", ib, &console.Config{Token: "short"}, "Config.Token"},
		{"negative recent", ib, &console.Config{Recent: -1}, "Config.Recent is -1"},
		{"negative page", ib, &console.Config{PageSize: -1}, "Config.PageSize is -1"},
		{"page too big", ib, &console.Config{PageSize: inbox.MaxPage + 1}, "Config.PageSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if c, err := console.New(tt.ib, tt.cfg); err == nil || c != nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("New = %v, %v; want an error naming %s", c, err, tt.mention)
			}
		})
	}
	// Zero values are the defaults, and New copies the Config.
	cfg := &console.Config{}
	if c, err := console.New(ib, cfg); err != nil || c.Token() == "" || cfg.Token != "" {
		t.Errorf("New(zero Config) = %v, %v; Config after: %+v", c, err, cfg)
	}
	c, err := console.New(ib, nil)
	if err != nil || len(c.Token()) < 16 {
		t.Fatalf("New() = %v, token %d chars", err, len(c.Token()))
	}
	if strings.Contains(fmt.Sprint(err), c.Token()) {
		t.Error("token in an error")
	}
}

// An open page's live stream must not hold up the server's graceful
// shutdown: the console ends it when the server that serves it shuts down.
func TestShutdownEndsLiveStreams(t *testing.T) {
	t.Parallel()
	c, err := console.New(memInbox(t), &console.Config{Token: "a-long-random-console-token"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer a-long-random-console-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %s", resp.Status)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a page open: %v", err)
	}
	srv.Close()
}

func TestTokenRefusesWhatACookieCannotCarry(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"my-console-token;2026", "pässwörd-console-2026", `back\slash-token-2026`, "space in the token 2026", "short"} {
		if _, err := console.New(memInbox(t), &console.Config{Token: tok}); err == nil {
			t.Errorf("Config.Token %q accepted", tok)
		}
	}
	if _, err := console.New(memInbox(t), &console.Config{Token: "Az09-._~Az09-._~"}); err != nil {
		t.Errorf("a token of every allowed kind refused: %v", err)
	}
}
