package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/examples/internal/backend"
)

// chatRoom records what an incoming-webhook endpoint receives.
type chatRoom struct {
	mu   sync.Mutex
	msgs []string
}

func (c *chatRoom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct{ Text string }
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || msg.Text == "" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, msg.Text)
	c.mu.Unlock()
}

func (c *chatRoom) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func TestRun(t *testing.T) {
	t.Parallel()
	// Every delivery is also sent a second time: the chat must still get
	// one summary per batch.
	emu, err := emulator.NewServer(&emulator.Config{
		InsecureAllowHTTPLoopback: true,
		Running:                   10 * time.Millisecond,
		Faults:                    emulator.Faults{DuplicateRate: 1},
		Outcome:                   emulatorOutcome(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	room := &chatRoom{}
	chat := httptest.NewServer(room)
	defer chat.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	res, err := run(ctx, config{backend: backend.Config{Emulator: emu}, chatURL: chat.URL, model: "gemini-2.5-flash"}, &out)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, &out)
	}

	got := room.messages()
	if diff := cmp.Diff(sorted(res.Posted), sorted(got)); diff != "" {
		t.Errorf("chat messages differ from what run reports (-run +chat):\n%s", diff)
	}
	if len(got) != 2 {
		t.Fatalf("chat got %d messages, want 2: %q", len(got), got)
	}
	want := map[string]string{"nightly-report": "succeeded, results in " + emu.URL, "broken-input": "failed with 13"}
	for name, outcome := range want {
		i := slices.IndexFunc(got, func(m string) bool { return strings.Contains(m, `"`+name+`"`) })
		if i < 0 {
			t.Errorf("no chat message names %q: %q", name, got)
			continue
		}
		if !strings.Contains(got[i], outcome) {
			t.Errorf("message %q does not say %q", got[i], outcome)
		}
	}
	for i, b := range res.Batches {
		if !strings.Contains(got[0]+got[1], b) {
			t.Errorf("batch %d (%s) is in no chat message", i, b)
		}
	}

	st := res.Stats
	if st.Stored != 2 || st.Duplicates != 2 || st.Processed != 2 || st.Received != 4 {
		t.Errorf("stats = %+v, want 4 received: 2 stored, 2 duplicates, 2 processed", st)
	}
	for _, a := range emu.Attempts() {
		if !a.OK || a.WebhookID != res.Webhook {
			t.Errorf("attempt %+v: want a 2xx answer to webhook %s", a, res.Webhook)
		}
	}
	if n := webhookCount(t, emu); n != 0 {
		t.Errorf("%d webhooks left registered, want 0", n)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// webhookCount lists the emulator's registered webhooks over its REST API.
func webhookCount(t *testing.T, emu *emulator.Server) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, emu.URL+"/v1beta/webhooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", emu.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Webhooks []json.RawMessage `json:"webhooks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return len(page.Webhooks)
}
