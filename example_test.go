package geminihooks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// emulated starts an emulator and returns a client for it, standing in for
// genai.NewClient(ctx, nil) with GEMINI_API_KEY set.
func emulated(cfg *geminihooks.Config) (*geminihooks.Client, func()) {
	emu, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true})
	if err != nil {
		log.Fatal(err)
	}
	gc, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      emu.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: emu.URL},
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := geminihooks.NewClient(gc, cfg)
	if err != nil {
		log.Fatal(err)
	}
	return c, emu.Close
}

// The client wraps a genai client, which finds the API key in GEMINI_API_KEY.
func ExampleNewClient() {
	ctx := context.Background()
	gc, err := genai.NewClient(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, err := geminihooks.NewClient(gc, nil)
	if err != nil {
		log.Fatal(err)
	}
	for wh, err := range c.Webhooks.All(ctx, nil) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(wh.ID, wh.URI, wh.State)
	}
}

func ExampleWebhooksService_Create() {
	c, stop := emulated(nil)
	defer stop()

	wh, secret, err := c.Webhooks.Create(context.Background(), geminihooks.Webhook{
		URI:    "https://example.com/hooks/gemini",
		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
		Name:   "batches",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(wh.Name, wh.State, wh.Events)
	// The secret is shown only now. Printing it by accident hides it;
	// string(secret) is what to store in signing.Config.Secrets.
	fmt.Println(secret)
	fmt.Println(strings.HasPrefix(string(secret), "whsec_"))
	// Output:
	// batches enabled [batch.succeeded batch.failed]
	// whsec_[redacted]
	// true
}

func ExampleWebhooksService_All() {
	c, stop := emulated(nil)
	defer stop()
	ctx := context.Background()
	for i := range 3 {
		_, _, err := c.Webhooks.Create(ctx, geminihooks.Webhook{
			URI:    fmt.Sprintf("https://example.com/hooks/%d", i),
			Events: []event.Type{event.TypeVideoGenerated},
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	// Two per page: All fetches the second page when the first runs out.
	n := 0
	for _, err := range c.Webhooks.All(ctx, &geminihooks.ListOptions{PageSize: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "webhooks")
	// Output: 3 webhooks
}

func ExampleWebhooksService_RotateSigningSecret() {
	c, stop := emulated(nil)
	defer stop()
	ctx := context.Background()
	wh, first, err := c.Webhooks.Create(ctx, geminihooks.Webhook{
		URI:    "https://example.com/hooks/gemini",
		Events: []event.Type{event.TypeBatchSucceeded},
	})
	if err != nil {
		log.Fatal(err)
	}

	// Keep the old secret valid for 24 hours while receivers switch over.
	secret, err := c.Webhooks.RotateSigningSecret(ctx, wh.ID, 24*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(secret != first)
	got, err := c.Webhooks.Get(ctx, wh.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(got.SigningSecrets), "secrets during the grace period")
	// Output:
	// true
	// 2 secrets during the grace period
}

func ExampleAPIError() {
	c, stop := emulated(nil)
	defer stop()

	_, err := c.Webhooks.Get(context.Background(), "nosuchwebhook")
	fmt.Println(errors.Is(err, geminihooks.ErrNotFound))
	var apiErr *geminihooks.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Status)
	}
	// Output:
	// true
	// 404 NOT_FOUND
}

// A batch whose completion is pushed to a callback of its own, with metadata
// that comes back in the event.
func ExampleBatchesService_Create() {
	// A receiver on loopback http, which Config.InsecureLoopbackHTTP permits.
	events := make(chan []byte, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		events <- body
	}))
	defer rcv.Close()
	c, stop := emulated(&geminihooks.Config{InsecureLoopbackHTTP: true})
	defer stop()

	_, err := c.Batches.Create(context.Background(), "gemini-2.5-flash",
		&genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("Hello")}}},
		&genai.CreateBatchJobConfig{DisplayName: "greetings"},
		&geminihooks.Callback{
			URIs:         []string{rcv.URL + "/gemini"},
			UserMetadata: map[string]any{"order_id": "A-17"},
		})
	if err != nil {
		log.Fatal(err)
	}
	ev, err := event.Parse(<-events)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Type, ev.UserMetadata)
	// Output: batch.succeeded map[order_id:A-17]
}

// Video generation that reports to a callback. Needs GEMINI_API_KEY.
func ExampleVideosService_Generate() {
	ctx := context.Background()
	gc, err := genai.NewClient(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, err := geminihooks.NewClient(gc, nil)
	if err != nil {
		log.Fatal(err)
	}
	op, err := c.Videos.Generate(ctx, "veo-3.0-generate-001",
		&genai.GenerateVideosSource{Prompt: "A lighthouse at dawn"}, nil,
		&geminihooks.Callback{URIs: []string{"https://example.com/hooks/video"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("started", op.Name)
}

// A video made by an Interactions model: ask for a video response, in the
// background, with a callback. It ends with video.generated, as a video from
// Videos.Generate does.
func ExampleInteractionsService_Create_video() {
	ctx := context.Background()
	gc, err := genai.NewClient(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, err := geminihooks.NewClient(gc, nil)
	if err != nil {
		log.Fatal(err)
	}
	it, err := c.Interactions.Create(ctx, geminihooks.InteractionRequest{
		Model:          "gemini-omni-1.2-flash",
		Input:          "A red balloon over a calm lake",
		ResponseFormat: map[string]any{"type": "video"},
	}, &geminihooks.Callback{URIs: []string{"https://example.com/hooks/video"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("started", it.ID, it.Status)
}

// A receiver for interaction.requires_action: it runs the functions the
// interaction asks for and answers, and the follow-up reports to the same
// callback. Needs GEMINI_API_KEY and a public https endpoint.
func ExampleInteractionsService_SubmitFunctionResults() {
	ctx := context.Background()
	gc, err := genai.NewClient(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, err := geminihooks.NewClient(gc, nil)
	if err != nil {
		log.Fatal(err)
	}
	const hook = "https://example.com/hooks/agent"
	keys, err := signing.NewRemoteKeySet(signing.GeminiJWKSURL, nil)
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := signing.NewVerifier(&signing.Config{
		Keys:     keys,
		Audience: []string{hook}, // for JWT-signed deliveries
	})
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("POST /hooks/agent", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			_, err = verifier.Verify(r.Context(), r.Header, body)
		}
		if err != nil {
			http.Error(w, "unverified", http.StatusUnauthorized)
			return
		}
		ev, err := event.Parse(body)
		if err != nil || ev.Type != event.TypeInteractionRequiresAction {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		it, err := c.Interactions.Get(r.Context(), ev.JobID)
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if it.Status != "requires_action" {
			w.WriteHeader(http.StatusNoContent) // answered already
			return
		}
		calls := it.FunctionCalls
		for i := range calls {
			calls[i].Result = map[string]any{"temp_c": 4}
		}
		// A nil callback carries over the interaction's own.
		if _, err := c.Interactions.SubmitFunctionResults(r.Context(), ev.JobID, calls, nil); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	_, err = c.Interactions.Create(ctx, geminihooks.InteractionRequest{
		Model: "gemini-2.5-flash",
		Input: "What is the weather in Oslo?",
		Tools: []geminihooks.Function{{Name: "get_weather"}},
	}, &geminihooks.Callback{URIs: []string{hook}})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(":8080", nil))
}
