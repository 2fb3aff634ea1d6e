// Package metrics exports a listener's work as Prometheus metrics, all
// named geminihooks_*: deliveries by outcome and scheme, the ack latency,
// handler runs and their duration by event type, the inbox's messages by
// state, dead letters, JWKS fetches and their failures, and events a
// reconciler synthesized. A Metrics is a listener.Observer, so the listener
// itself never imports Prometheus.
//
//	m, err := metrics.New()
//	if err != nil { ... }
//	if err := m.WatchInbox(ib); err != nil { ... } // ib is an inbox.Admin
//	l := listener.New(v, listener.WithInbox(ib), listener.WithObserver(m))
//	mux.Handle("GET /metrics", m.Handler())
package metrics
