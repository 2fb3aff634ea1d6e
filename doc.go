// Package geminihooks is a client for Gemini API webhooks, on top of
// google.golang.org/genai. Client.Webhooks manages the project's registered
// webhooks; Client.Batches, Videos and Interactions launch jobs whose events
// go to a per-request Callback, sent in the snake_case form the API expects.
// Every error answer is an *APIError.
//
//	gc, err := genai.NewClient(ctx, nil) // GEMINI_API_KEY
//	c, err := geminihooks.NewClient(gc, nil)
//	wh, secret, err := c.Webhooks.Create(ctx, geminihooks.Webhook{
//		URI:    "https://example.com/hooks/gemini",
//		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
//	})
//	// secret is shown only once: store string(secret) in signing.Config.Secrets.
package geminihooks
