// Receive is the smallest complete receiver: it verifies deliveries to a
// registered webhook and logs each finished batch. Try it with the CLI's
// signed sample events:
//
//	export GEMINI_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
//	go run ./examples/receive &
//	go run ./cmd/geminihooks trigger batch.succeeded --to http://127.0.0.1:8080/gemini
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

func main() {
	l, err := newListener(os.Getenv("GEMINI_WEBHOOK_SECRET"), log.Default())
	if err != nil {
		log.Fatal(err)
	}
	go l.Run(context.Background()) // hands stored events to the handlers
	mux := http.NewServeMux()
	mux.Handle("/gemini", l) // verifies, dedupes, stores, answers 2xx
	srv := &http.Server{
		Addr:              "127.0.0.1:8080",
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second, // slow or idle clients cannot hold connections open
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	log.Fatal(srv.ListenAndServe())
}

func newListener(secret string, logger *log.Logger) (*listener.Listener, error) {
	v, err := signing.NewHMACVerifier([]string{secret})
	if err != nil {
		return nil, err
	}
	l := listener.New(v)
	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.BatchSucceeded) error {
		logger.Printf("batch %s succeeded; results at %s", d.ID, d.OutputFileURI)
		return nil
	})
	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.BatchFailed) error {
		logger.Printf("batch %s failed: %s %s", d.ID, d.ErrorCode, d.ErrorMessage)
		return nil
	})
	return l, nil
}
