// Package metrics exports a listener's work as Prometheus metrics, all
// named geminihooks_*: deliveries by outcome and scheme, the ack latency,
// handler runs and their duration by event type, the inbox's messages by
// state, dead letters, JWKS fetches and their failures, and events a
// reconciler synthesized. The listener reports to Metrics.Observer, so the
// listener itself never imports Prometheus; a Metrics serves /metrics.
//
//	m, err := metrics.New(nil) // nil: every default, a registry of its own
//	if err != nil { ... }
//	if err := m.WatchInbox(ib); err != nil { ... } // ib is an inbox.Admin
//	l, err := listener.New(v, &listener.Config{Inbox: ib, Observer: m.Observer()})
//	mux.Handle("GET /metrics", m)
package metrics
