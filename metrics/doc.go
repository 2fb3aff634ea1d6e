// Package metrics exports a listener's work as Prometheus metrics, all
// named geminihooks_*: deliveries by outcome and scheme, the ack latency,
// handler runs and their duration by event type, the inbox's messages by
// state, dead letters, JWKS fetches and their failures, and events a
// reconciler synthesized. A Metrics is a listener.Observer, so the listener
// itself never imports Prometheus.
//
//	m := metrics.New()
//	l := listener.New(v, listener.WithObserver(m))
//	m.WatchInbox(ib) // ib is an inbox.Admin
//	mux.Handle("GET /metrics", m.Handler())
package metrics
