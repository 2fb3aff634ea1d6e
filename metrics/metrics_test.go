package metrics_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/metrics"
	"github.com/geminihooks/geminihooks/signing"
)

// scrape GETs url and parses the answer with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the counter, gauge or histogram count of the series of
// family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	var synthesized uint64 = 3
	m, err := metrics.New(&metrics.Config{Synthesized: func() uint64 { return synthesized }})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := inbox.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WatchInbox(ib); err != nil {
		t.Fatal(err)
	}
	l, err := listener.New(v, &listener.Config{Inbox: ib, Observer: m.Observer(), MaxAttempts: 1, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l.On(event.TypeBatchFailed, func(context.Context, *event.Event) error { return errors.New("no") })
	l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	hooks := httptest.NewServer(l)
	t.Cleanup(hooks.Close)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		io.WriteString(w, `{"keys":[]}`)
	}))
	t.Cleanup(jwks.Close)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	send := func(id string, d event.Data, forge bool) {
		t.Helper()
		now := time.Now()
		body, err := event.Marshal(d, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, hooks.URL, strings.NewReader(string(body)))
		_ = signing.Signer{Secrets: []string{secret}}.Sign(req.Header, id, now, body)
		if forge {
			req.Header.Set(signing.HeaderSignature, "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("wh_ok", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1"}, false)
	send("wh_ok", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1"}, false)
	send("wh_bad", &event.Batch{Type: event.TypeBatchFailed, ID: "batches/2"}, false)
	send("wh_forged", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/3"}, true)
	client := &http.Client{Transport: m.JWKSTransport(nil)}
	for _, path := range []string{"/", "/down"} {
		resp, err := client.Get(jwks.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// Wait for both handler runs to be recorded, reading /metrics itself.
	deadline := time.Now().Add(10 * time.Second)
	var fams map[string]*dto.MetricFamily
	for {
		fams = scrape(t, srv.URL+"/metrics")
		if value(fams, "geminihooks_handler_runs_total", map[string]string{"type": "batch.failed", "outcome": "dead"}) == 1 &&
			value(fams, "geminihooks_handler_runs_total", map[string]string{"type": "batch.succeeded", "outcome": "acked"}) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("handler runs never showed in /metrics")
		}
		time.Sleep(5 * time.Millisecond) // poll interval between scrapes, not a stand-in for an event
	}
	got := map[string]float64{}
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"geminihooks_deliveries_total", map[string]string{"outcome": "stored", "scheme": "v1"}},
		{"geminihooks_deliveries_total", map[string]string{"outcome": "duplicate", "scheme": "v1"}},
		{"geminihooks_deliveries_total", map[string]string{"outcome": "bad_signature", "scheme": ""}},
		{"geminihooks_ack_latency_seconds", nil},
		{"geminihooks_handler_duration_seconds", map[string]string{"type": "batch.failed"}},
		{"geminihooks_handler_runs_total", map[string]string{"type": "batch.succeeded", "outcome": "acked"}},
		{"geminihooks_dead_letters_total", nil},
		{"geminihooks_inbox_messages", map[string]string{"state": "dead"}},
		{"geminihooks_inbox_messages", map[string]string{"state": "done"}},
		{"geminihooks_inbox_messages", map[string]string{"state": "pending"}},
		{"geminihooks_jwks_fetches_total", nil},
		{"geminihooks_jwks_fetch_failures_total", nil},
		{"geminihooks_reconciler_synthesized_total", nil},
	} {
		key := c.name
		for _, k := range slices.Sorted(maps.Keys(c.labels)) {
			key += " " + k + "=" + c.labels[k]
		}
		got[key] = value(fams, c.name, c.labels)
	}
	want := map[string]float64{
		"geminihooks_deliveries_total outcome=stored scheme=v1":             2,
		"geminihooks_deliveries_total outcome=duplicate scheme=v1":          1,
		"geminihooks_deliveries_total outcome=bad_signature scheme=":        1,
		"geminihooks_ack_latency_seconds":                                   4,
		"geminihooks_handler_duration_seconds type=batch.failed":            1,
		"geminihooks_handler_runs_total outcome=acked type=batch.succeeded": 1,
		"geminihooks_dead_letters_total":                                    1,
		"geminihooks_inbox_messages state=dead":                             1,
		"geminihooks_inbox_messages state=done":                             1,
		"geminihooks_inbox_messages state=pending":                          0,
		"geminihooks_jwks_fetches_total":                                    2,
		"geminihooks_jwks_fetch_failures_total":                             1,
		"geminihooks_reconciler_synthesized_total":                          3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/metrics (-want +got):\n%s", diff)
	}
	for name := range fams {
		if !strings.HasPrefix(name, "geminihooks_") {
			t.Errorf("metric %s is not under geminihooks_", name)
		}
	}
}

// An unknown type chosen by the sender must not become a series of its own.
func TestUnknownTypesShareALabel(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(&metrics.Config{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []event.Type{"x.one", "x.two", "batch.completed"} {
		m.Observer().Ran(listener.Run{Type: typ, Outcome: listener.RunAcked})
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, f := range fams {
		if f.GetName() != "geminihooks_handler_runs_total" {
			continue
		}
		for _, mm := range f.GetMetric() {
			if mm.GetCounter().GetValue() == 0 {
				continue // every known type's series exists from the start
			}
			for _, l := range mm.GetLabel() {
				if l.GetName() == "type" {
					types = append(types, l.GetValue())
				}
			}
		}
	}
	if diff := cmp.Diff([]string{"batch.succeeded", "unknown"}, types); diff != "" {
		t.Errorf("type labels (-want +got):\n%s", diff)
	}
}
