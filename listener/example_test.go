package listener_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

func ExampleListener() {
	// The webhook's signing secret, shown once when it was created.
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		panic(err)
	}
	l := listener.New(v)
	results := make(chan string, 1)
	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Batch) error {
		results <- fmt.Sprintf("%s: batch %s wrote %s", e.ID, d.ID, d.OutputFileURI)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- l.Run(ctx) }()
	srv := httptest.NewServer(l)
	defer srv.Close()

	// What Gemini sends when the batch is done.
	now := time.Now()
	body, _ := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/123", OutputFileURI: "files/out-123"}, now, nil)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	_ = signing.Signer{Secrets: []string{secret}}.Sign(req.Header, "msg_2kWPNNpAqXnFLZ", now, body)
	resp, err := srv.Client().Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println(<-results)

	cancel()
	fmt.Println("drained:", <-stopped)
	// Output:
	// 202 Accepted
	// msg_2kWPNNpAqXnFLZ: batch batches/123 wrote files/out-123
	// drained: <nil>
}
