// Package geminihooks is a client for Gemini API webhooks, on top of
// google.golang.org/genai.
//
// Client.Webhooks manages the project's registered webhooks (create, list,
// update, ping, rotate the signing secret). Client.Batches, Client.Videos and
// Client.Interactions launch jobs with a per-request Callback whose events go
// to URIs of their own, with user metadata echoed back; they send the
// callback in the snake_case form the API expects and return genai's own
// result types. Every error answer is an *APIError.
//
//	gc, err := genai.NewClient(ctx, nil) // GEMINI_API_KEY
//	c, err := geminihooks.NewClient(gc)
//	wh, err := c.Webhooks.Create(ctx, geminihooks.WebhookSpec{
//		URI:    "https://example.com/hooks/gemini",
//		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
//	})
//	// wh.Secret is shown only once: store it in signing.Config.Secrets.
package geminihooks
