package listener_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
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
	l, err := listener.New(v, nil)
	if err != nil {
		panic(err)
	}
	results := make(chan string, 1)
	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Batch) error {
		results <- fmt.Sprintf("%s: batch %s wrote %s", e.ID, d.ID, d.OutputFileURI)
		return nil
	})
	mux := http.NewServeMux()
	mux.Handle("/gemini/webhook", l)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- l.Serve(ctx, srv, ln) }()

	// What Gemini sends when the batch is done.
	now := time.Now()
	body, _ := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/123", OutputFileURI: "files/out-123"}, now, nil)
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/gemini/webhook", bytes.NewReader(body))
	_ = signing.Signer{Secrets: []string{secret}}.Sign(req.Header, "msg_2kWPNNpAqXnFLZ", now, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println(<-results)

	cancel() // stops the server, then the workers
	fmt.Println("stopped:", <-stopped)
	// Output:
	// 202 Accepted
	// msg_2kWPNNpAqXnFLZ: batch batches/123 wrote files/out-123
	// stopped: <nil>
}
