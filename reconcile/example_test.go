package reconcile_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/reconcile"
)

// A batch's delivery is lost; the reconciler puts the event it would have
// carried into the inbox, where the listener's workers hand it to the
// handler as usual.
func Example() {
	ctx := context.Background()
	emu, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true})
	if err != nil {
		log.Fatal(err)
	}
	defer emu.Close()
	// An endpoint that answers 204 and keeps nothing: a lost delivery.
	lost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer lost.Close()

	ib, err := inbox.NewMemory(nil) // the listener's inbox
	if err != nil {
		log.Fatal(err)
	}
	lg := ledger.NewMemory() // the ledger the client records jobs in
	gc, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey: emu.APIKey, Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: emu.URL},
	})
	if err != nil {
		log.Fatal(err)
	}
	client, err := geminihooks.NewClient(gc, &geminihooks.Config{Ledger: lg, InsecureLoopbackHTTP: true})
	if err != nil {
		log.Fatal(err)
	}
	job, err := client.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{
		InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}},
	}, nil, &geminihooks.Callback{URIs: []string{lost.URL}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := emu.WaitJob(ctx, job.Name); err != nil {
		log.Fatal(err)
	}
	if err := emu.Idle(ctx); err != nil {
		log.Fatal(err)
	}

	// An hour later, well past the grace period.
	later := func() time.Time { return time.Now().Add(time.Hour) }
	rec, err := reconcile.New(client, ib, lg, &reconcile.Config{Now: later})
	if err != nil {
		log.Fatal(err)
	}
	if err := rec.Reconcile(ctx); err != nil {
		log.Fatal(err)
	}
	ms, err := ib.Claim(ctx, 1, time.Minute)
	if err != nil || len(ms) != 1 {
		log.Fatal(ms, err)
	}
	e, err := event.Parse(ms[0].Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Type, e.JobID == job.Name, ms[0].Synthesized)
	fmt.Println("synthesized:", rec.Stats().Synthesized)
	// Output:
	// batch.succeeded true true
	// synthesized: 1
}
