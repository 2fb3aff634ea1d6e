// Package emulator is a local stand-in for the parts of the Gemini API that
// webhooks touch: WebhookService, batches, video generation and background
// interactions, with jobs that finish on their own and signed, retried
// deliveries, so webhook flows run offline and in tests. It speaks the real
// wire format (v1beta paths, JSON casing, error shape), so the unmodified
// genai client works against it through HTTPOptions.BaseURL.
//
// Clients that cannot reach the Go API steer single jobs with headers on the
// create request: x-emulator-outcome (OutcomeHeader) picks how the job ends,
// and x-emulator-signing: v1a|jwt (SigningHeader) picks how its webhook_config
// deliveries are signed, overriding Config.DynamicSigning for that job (with
// genai: the call config's HTTPOptions.Headers, or an operations.Option).
//
//	s, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true})
//	if err != nil { ... }
//	defer s.Close()
//	client, _ := genai.NewClient(ctx, &genai.ClientConfig{APIKey: s.APIKey,
//		HTTPOptions: genai.HTTPOptions{BaseURL: s.URL}})
//	// register a webhook, start a batch, then: s.Idle(ctx) or s.Finish(name, "failed")
package emulator
