package console_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/geminihooks/geminihooks/console"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/metrics"
	"github.com/geminihooks/geminihooks/signing"
)

// A receiver with the console and Prometheus metrics mounted in the same
// mux. Both observe the listener; the console also browses the inbox.
func Example() {
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})
	if err != nil {
		log.Fatal(err)
	}
	mux, err := receiverWithConsole(v)
	if err != nil {
		log.Fatal(err)
	}

	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, auth := range []string{"", "Bearer a-long-random-console-token"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output:
	// 401 Unauthorized
	// 200 OK
}

// receiverWithConsole serves the webhook URL, the console under /console/
// and the metrics in one mux. (Serve it with the listener's Serve, as
// without a console.)
func receiverWithConsole(v *signing.Verifier) (*http.ServeMux, error) {
	ib, err := inbox.NewMemory(nil) // or a boltinbox or pginbox DB: each is an inbox.Admin
	if err != nil {
		return nil, err
	}
	c, err := console.New(ib, &console.Config{Token: "a-long-random-console-token"})
	if err != nil {
		return nil, err
	}
	m, err := metrics.New(nil)
	if err != nil {
		return nil, err
	}
	if err := m.WatchInbox(ib); err != nil {
		return nil, err
	}
	l, err := listener.New(v, &listener.Config{Inbox: ib, Observer: listener.Observers{m.Observer(), c.Observer()}})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/gemini", l)
	mux.Handle("/console/", http.StripPrefix("/console", c)) // keep it off the public internet
	mux.Handle("GET /metrics", m)
	return mux, nil
}
