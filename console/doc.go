// Package console is a web console for webhook deliveries, as an
// http.Handler to mount in any mux: a live list of the requests a listener
// answered (pushed with Server-Sent Events, newest first, with the reason
// for each rejection), the inbox's stored events page by page with filters,
// a delivery's headers, body and handler runs, and one-click replay and
// re-delivery. Access takes a token, and actions are protected against
// cross-site requests. It never shows a secret: it holds none, shortens
// signatures, and hides credentials in headers. Open pages end their live
// stream when the serving http.Server shuts down, so they never hold it up.
//
//	c, err := console.New(ib, nil) // ib is an inbox.Admin; nil: every default
//	l, err := listener.New(v, &listener.Config{Inbox: ib, Observer: c.Observer()})
//	mux.Handle("/console/", http.StripPrefix("/console", c))
//	log.Printf("console: http://127.0.0.1:8080/console/?token=%s", c.Token())
//
// The token is kept in a cookie once a page is opened with it. Browsers send
// a host's cookies to every port of that host, so other local servers on the
// same host see it: serve the console over HTTPS, or from a host of its own,
// where that matters.
package console
