// Receive is the smallest complete receiver: it verifies deliveries to a
// registered webhook and logs each finished batch, each rejected delivery
// (a wrong secret is a 401) and each dead-lettered event. It does not start
// an emulator: it waits for deliveries, such as the CLI's signed samples:
//
//	export GEMINI_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
//	go run ./examples/receive &
//	go run ./cmd/geminihooks trigger batch.succeeded --to http://127.0.0.1:8080/gemini
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	l, err := newListener(os.Getenv("GEMINI_WEBHOOK_SECRET"), logger)
	if err != nil {
		logger.Error("cannot start", "error", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/gemini", l) // verifies, dedupes, stores, answers 2xx
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second, // slow or idle clients cannot hold connections open
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		logger.Error("cannot listen", "error", err)
		os.Exit(1)
	}
	// Serves and hands stored events to the handlers until Ctrl-C, then
	// stops the server before the handlers, so nothing answered is lost.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := l.Serve(ctx, srv, ln); err != nil {
		logger.Error("stopped", "error", err)
		os.Exit(1)
	}
}

func newListener(secret string, logger *slog.Logger) (*listener.Listener, error) {
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		return nil, err
	}
	// The listener logs a rejected delivery (401 for a bad signature) as a
	// warning and a dead-lettered event as an error; without a Logger it
	// logs nothing.
	l, err := listener.New(v, &listener.Config{Logger: logger})
	if err != nil {
		return nil, err
	}
	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Batch) error {
		switch d.Type {
		case event.TypeBatchSucceeded:
			logger.Info("batch succeeded", "batch", d.ID, "results", d.OutputFileURI)
		case event.TypeBatchFailed:
			logger.Info("batch failed", "batch", d.ID, "code", d.ErrorCode, "message", d.ErrorMessage)
		}
		return nil
	})
	return l, nil
}
