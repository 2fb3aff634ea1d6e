package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
)

// countTimeout bounds the inbox count a scrape makes.
const countTimeout = 2 * time.Second

// Metrics holds the collectors and serves them (it is an http.Handler).
// Observer gives what the listener reports to. It is safe for concurrent
// use.
type Metrics struct {
	reg         *prometheus.Registry
	deliveries  *prometheus.CounterVec
	ackLatency  prometheus.Histogram
	runs        *prometheus.CounterVec
	runDuration *prometheus.HistogramVec
	deadLetters prometheus.Counter
	jwksFetches prometheus.Counter
	jwksFailed  prometheus.Counter

	// Children for every label value the listener can report, resolved
	// once: read-only maps, so the request path takes no lock and
	// allocates nothing.
	byDelivery map[[2]string]prometheus.Counter // outcome, scheme
	byRun      map[[2]string]prometheus.Counter // type, outcome
	durations  map[string]prometheus.Observer   // type

	handler http.Handler
}

// The values the listener reports, for resolving children up front.
var (
	outcomes = []listener.Outcome{
		listener.OutcomeStored, listener.OutcomeDuplicate, "bad_signature", "stale_timestamp",
		"unknown_kid", "keys_unavailable", "too_large", "read_timeout",
		"method_not_allowed", "bad_request", "inbox_full", "store_failed",
	}
	schemes     = []string{"", "v1", "v1a", "jwt"}
	runOutcomes = []listener.RunOutcome{
		listener.RunAcked, listener.RunUnhandled, listener.RunRetry, listener.RunDead, listener.RunInterrupted, listener.RunLost,
	}
)

// Config configures New. A nil *Config means every default.
type Config struct {
	// Registry is where the collectors are registered, and what ServeHTTP
	// serves: pass one to add collectors of your own, or to gather in
	// tests. Default: a new registry of the Metrics' own.
	Registry *prometheus.Registry
	// ProcessCollectors adds the Go runtime and process collectors (go_*,
	// process_*) to the registry. Default: false.
	ProcessCollectors bool
	// Synthesized, when set, adds geminihooks_reconciler_synthesized_total,
	// read from it at each scrape: pass a function that returns a
	// reconciler's Stats().Synthesized. Default: nil, no such metric.
	Synthesized func() uint64
}

// New returns Metrics with every geminihooks_* collector registered.
func New(cfg *Config) (*Metrics, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: c.Registry,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geminihooks_deliveries_total",
			Help: "Requests the listener answered, by outcome (stored, duplicate, or why it was rejected) and the signature scheme that verified them.",
		}, []string{"outcome", "scheme"}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "geminihooks_ack_latency_seconds",
			Help:    "Time from reading a request to answering it.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geminihooks_handler_runs_total",
			Help: "Handler runs by event type and outcome (acked, unhandled, retry, dead, interrupted, lost).",
		}, []string{"type", "outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "geminihooks_handler_duration_seconds",
			Help:    "Handler run time by event type.",
			Buckets: prometheus.ExponentialBuckets(.001, 4, 9),
		}, []string{"type"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geminihooks_dead_letters_total",
			Help: "Events dead-lettered by this process.",
		}),
		jwksFetches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geminihooks_jwks_fetches_total",
			Help: "JWKS fetches made through JWKSTransport.",
		}),
		jwksFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geminihooks_jwks_fetch_failures_total",
			Help: "JWKS fetches that failed or were not answered 200.",
		}),
	}
	for _, col := range []prometheus.Collector{m.deliveries, m.ackLatency, m.runs, m.runDuration, m.deadLetters, m.jwksFetches, m.jwksFailed} {
		if err := m.reg.Register(col); err != nil {
			return nil, fmt.Errorf("metrics: Config.Registry: %w", err)
		}
	}
	m.byDelivery = map[[2]string]prometheus.Counter{}
	for _, o := range outcomes {
		for _, sc := range schemes {
			m.byDelivery[[2]string{string(o), sc}] = m.deliveries.WithLabelValues(string(o), sc)
		}
	}
	m.byRun = map[[2]string]prometheus.Counter{}
	m.durations = map[string]prometheus.Observer{}
	types := []string{"unknown"}
	for ti := range event.Types() {
		if ti.Canonical == ti.Type {
			types = append(types, string(ti.Type))
		}
	}
	for _, t := range types {
		m.durations[t] = m.runDuration.WithLabelValues(t)
		for _, o := range runOutcomes {
			m.byRun[[2]string{t, string(o)}] = m.runs.WithLabelValues(t, string(o))
		}
	}
	var extra []prometheus.Collector
	if c.ProcessCollectors {
		extra = append(extra, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if f := c.Synthesized; f != nil {
		extra = append(extra, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "geminihooks_reconciler_synthesized_total",
			Help: "Events a reconciler put into the inbox for jobs whose delivery never came.",
		}, func() float64 { return float64(f()) }))
	}
	for _, col := range extra {
		if err := m.reg.Register(col); err != nil {
			return nil, fmt.Errorf("metrics: Config.Registry: %w", err)
		}
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m, nil
}

// ServeHTTP serves the registry in the Prometheus exposition format: mount
// the Metrics at /metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// Observer returns the listener.Observer that feeds the metrics: give it
// to the listener (listener.WithObserver), beside a console's if there is
// one (listener.Observers). Observing allocates nothing.
func (m *Metrics) Observer() listener.Observer { return (*observer)(m) }

// observer is Metrics seen as a listener.Observer.
type observer Metrics

// Delivered implements listener.Observer.
func (o *observer) Delivered(d listener.Delivery) {
	m := (*Metrics)(o)
	c, ok := m.byDelivery[[2]string{string(d.Outcome), string(d.Scheme)}]
	if !ok { // a value a later listener added
		c = m.deliveries.WithLabelValues(string(d.Outcome), string(d.Scheme))
	}
	c.Inc()
	m.ackLatency.Observe(d.Latency.Seconds())
}

// Ran implements listener.Observer.
func (o *observer) Ran(r listener.Run) {
	m := (*Metrics)(o)
	t := typeLabel(r.Type)
	c, ok := m.byRun[[2]string{t, string(r.Outcome)}]
	if !ok {
		c = m.runs.WithLabelValues(t, string(r.Outcome))
	}
	c.Inc()
	h, ok := m.durations[t]
	if !ok {
		h = m.runDuration.WithLabelValues(t)
	}
	h.Observe(r.Duration.Seconds())
	if r.Outcome == listener.RunDead {
		m.deadLetters.Inc()
	}
}

// typeLabel keeps the type label's values to the types this version
// knows: a type is chosen by the sender, and each new value would be a new
// series.
func typeLabel(t event.Type) string {
	if ti, ok := event.Lookup(t); ok {
		return string(ti.Canonical)
	}
	return "unknown"
}

// WatchInbox adds geminihooks_inbox_messages{state}, counted from ib at
// each scrape (within two seconds; a failed count reports nothing). It is
// a method rather than a Config field because the inbox often comes later
// than the Metrics, whose JWKSTransport the key set needs first.
func (m *Metrics) WatchInbox(ib inbox.Admin) error {
	if ib == nil {
		return errors.New("metrics: WatchInbox of a nil inbox")
	}
	if err := m.reg.Register(&inboxCollector{ib: ib, desc: inboxDesc}); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

var inboxDesc = prometheus.NewDesc("geminihooks_inbox_messages",
	"Messages in the inbox by state: pending and claimed make up the queue; done are dedupe records; dead are dead letters.",
	[]string{"state"}, nil)

type inboxCollector struct {
	ib   inbox.Admin
	desc *prometheus.Desc
}

func (c *inboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *inboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
	defer cancel()
	n, err := c.ib.Count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("metrics: counting the inbox: %w", err))
		return
	}
	for state, v := range map[inbox.State]int{
		inbox.StatePending: n.Pending, inbox.StateClaimed: n.Claimed, inbox.StateDone: n.Done, inbox.StateDead: n.Dead,
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), string(state))
	}
}

// JWKSTransport wraps base (nil: http.DefaultTransport) to count JWKS
// fetches and their failures; give it to signing.NewRemoteKeySet in
// signing.KeySetConfig.HTTPClient.
func (m *Metrics) JWKSTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		m.jwksFetches.Inc()
		resp, err := base.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusOK {
			m.jwksFailed.Inc()
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
