package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	gi "google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"
)

// register creates a webhook through genai and returns its id and a
// verifier for its secret.
func register(t *testing.T, c *genai.Client, uri string, events ...webhooks.WebhookSubscribedEvent) (string, *signing.Verifier) {
	t.Helper()
	res, err := c.Webhooks.Create(t.Context(), operations.CreateWebhookRequest{Body: webhooks.WebhookInput{URI: uri, SubscribedEvents: events}})
	if err != nil {
		t.Fatalf("Webhooks.Create: %v", err)
	}
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{*res.Webhook.NewSigningSecret}})
	if err != nil {
		t.Fatal(err)
	}
	return *res.Webhook.ID, v
}

// fetch GETs an output the emulator serves, with the API key.
func fetch(t *testing.T, s *emulator.Server, uri string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", s.APIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", uri, res.StatusCode, b, err)
	}
	return b
}

// parseVerified verifies a delivery and parses its event.
func parseVerified(t *testing.T, v *signing.Verifier, d received) *event.Event {
	t.Helper()
	if _, err := v.Verify(t.Context(), d.header, d.body); err != nil {
		t.Fatalf("verify %s: %v", d.body, err)
	}
	ev, err := event.Parse(d.body)
	if err != nil {
		t.Fatalf("parse %s: %v", d.body, err)
	}
	return ev
}

// dynamicVerifier verifies webhook_config deliveries with the server's keys
// and the rest of cfg, which may be nil.
func dynamicVerifier(t *testing.T, s *emulator.Server, cfg *signing.Config) *signing.Verifier {
	t.Helper()
	keys, err := s.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := signing.MarshalJWKS(keys...)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := signing.NewStaticKeySet(jwks)
	if err != nil {
		t.Fatal(err)
	}
	c := signing.Config{}
	if cfg != nil {
		c = *cfg
	}
	c.Keys = ks
	v, err := signing.NewVerifier(&c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGenAIBatches(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true})
	c := newClient(t, s)
	ctx := t.Context()
	static := newReceiver(t, 8)
	_, verify := register(t, c, static.URL, "batch.succeeded", "batch.cancelled")

	src := &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{
		{Contents: genai.Text("one"), Metadata: map[string]string{"key": "a"}},
		{Contents: genai.Text("two"), Metadata: map[string]string{"key": "b"}},
	}}
	job, err := c.Batches.Create(ctx, "gemini-2.5-flash", src, &genai.CreateBatchJobConfig{DisplayName: "nightly"})
	if err != nil {
		t.Fatalf("Batches.Create: %v", err)
	}
	if !strings.HasPrefix(job.Name, "batches/") || job.State != genai.JobStateRunning || job.DisplayName != "nightly" || job.Model != "models/gemini-2.5-flash" {
		t.Fatalf("Batches.Create = %+v", job)
	}
	if err := s.Finish(job.Name, "succeeded"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Batches.Get(ctx, job.Name, nil)
	if err != nil {
		t.Fatalf("Batches.Get: %v", err)
	}
	if got.State != genai.JobStateSucceeded || got.EndTime.IsZero() || got.Dest == nil || len(got.Dest.InlinedResponses) != 2 ||
		got.Dest.InlinedResponses[1].Response.Text() != "Emulated response 2." {
		t.Fatalf("Batches.Get = %+v", got)
	}
	ev := parseVerified(t, verify, static.next(t))
	data, err := event.As[*event.Batch](ev)
	if err != nil || data.ID != job.Name {
		t.Fatalf("event %+v: %v", data, err)
	}
	lines := bytes.Split(bytes.TrimSpace(fetch(t, s, data.OutputFileURI)), []byte("\n"))
	if len(lines) != 2 || !bytes.Contains(lines[0], []byte(`"key":"a"`)) {
		t.Fatalf("results file: %q", lines)
	}

	second, err := c.Batches.Create(ctx, "gemini-2.5-flash", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Batches.Cancel(ctx, second.Name, nil); err != nil {
		t.Fatalf("Batches.Cancel: %v", err)
	}
	if got, err := c.Batches.Get(ctx, second.Name, nil); err != nil || got.State != genai.JobStateCancelled {
		t.Fatalf("after Cancel: %+v, %v", got, err)
	}
	if ev := parseVerified(t, verify, static.next(t)); ev.Type != event.TypeBatchCancelled {
		t.Fatalf("got %s, want batch.cancelled", ev.Type)
	}

	page, err := c.Batches.List(ctx, &genai.ListBatchJobsConfig{PageSize: 1})
	if err != nil {
		t.Fatalf("Batches.List: %v", err)
	}
	if len(page.Items) != 1 || page.Items[0].Name != job.Name || page.NextPageToken == "" {
		t.Fatalf("first page: %+v", page)
	}
	page, err = page.Next(ctx)
	if err != nil || len(page.Items) != 1 || page.Items[0].Name != second.Name || page.NextPageToken != "" {
		t.Fatalf("second page: %+v, %v", page, err)
	}

	if _, err := c.Batches.Delete(ctx, second.Name, nil); err != nil {
		t.Fatalf("Batches.Delete: %v", err)
	}
	var apiErr genai.APIError
	if _, err := c.Batches.Get(ctx, second.Name, nil); !errors.As(err, &apiErr) || apiErr.Code != http.StatusNotFound || apiErr.Status != "NOT_FOUND" {
		t.Fatalf("Get after Delete: %v", err)
	}
	idle(t, s)
	static.none(t)
}

// TestGenAIBatchWebhookConfig shows the known genai Go bug (go-genai#779):
// it sends batch.webhookConfig.userMetadata camelCase, which the real
// service rejects, and so does the emulator; uris alone work.
func TestGenAIBatchWebhookConfig(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c := newClient(t, s)
	dyn := newReceiver(t, 4)
	src := &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("x")}}}

	_, err := c.Batches.Create(t.Context(), "gemini-2.5-flash", src, &genai.CreateBatchJobConfig{
		WebhookConfig: &genai.WebhookConfig{Uris: []string{dyn.URL}, UserMetadata: map[string]any{"order": 7}},
	})
	var apiErr genai.APIError
	const want = `Invalid JSON payload received. Unknown name "userMetadata" at 'batch.webhook_config': Cannot find field.`
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusBadRequest || apiErr.Status != "INVALID_ARGUMENT" || apiErr.Message != want {
		t.Fatalf("Create with userMetadata: %v, want 400 %q", err, want)
	}

	job, err := c.Batches.Create(t.Context(), "gemini-2.5-flash", src, &genai.CreateBatchJobConfig{
		WebhookConfig: &genai.WebhookConfig{Uris: []string{dyn.URL}},
	})
	if err != nil {
		t.Fatalf("Create with uris: %v", err)
	}
	ev := parseVerified(t, dynamicVerifier(t, s, nil), dyn.next(t))
	if d, err := event.As[*event.Batch](ev); err != nil || d.ID != job.Name {
		t.Fatalf("event %+v: %v", d, err)
	}
}

func TestGenAIVideos(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true})
	c := newClient(t, s)
	dyn := newReceiver(t, 4)
	op := generateVideo(t, s, c, "veo-3.0-generate-001", "a lighthouse at dusk", &genai.GenerateVideosConfig{
		WebhookConfig: &genai.WebhookConfig{Uris: []string{dyn.URL}, UserMetadata: map[string]any{"order": "42"}},
	})
	if !strings.HasPrefix(op.Name, "models/veo-3.0-generate-001/operations/") || op.Done {
		t.Fatalf("GenerateVideos = %+v", op)
	}
	op, err := c.Operations.GetVideosOperation(t.Context(), op, nil)
	if err != nil || op.Done {
		t.Fatalf("GetVideosOperation before finish: %+v, %v", op, err)
	}
	if err := s.Finish(op.Name, "succeeded"); err != nil {
		t.Fatal(err)
	}
	op, err = c.Operations.GetVideosOperation(t.Context(), op, nil)
	if err != nil || !op.Done || op.Response == nil || len(op.Response.GeneratedVideos) != 1 {
		t.Fatalf("GetVideosOperation: %+v, %v", op, err)
	}
	uri := op.Response.GeneratedVideos[0].Video.URI
	if video := fetch(t, s, uri); http.DetectContentType(video) != "video/mp4" {
		t.Errorf("video bytes sniff as %s", http.DetectContentType(video))
	}
	// genai's own download path must find the same file from the URI.
	video, err := c.Files.Download(t.Context(), genai.NewDownloadURIFromGeneratedVideo(op.Response.GeneratedVideos[0]), nil)
	if err != nil || http.DetectContentType(video) != "video/mp4" {
		t.Errorf("Files.Download = %d bytes (%s), %v", len(video), http.DetectContentType(video), err)
	}
	ev := parseVerified(t, dynamicVerifier(t, s, nil), dyn.next(t))
	d, err := event.As[*event.Video](ev)
	if err != nil || d.ID != op.Name || d.Location() != uri {
		t.Fatalf("event %+v: %v", d, err)
	}
	if diff := cmp.Diff(map[string]any{"order": "42"}, ev.UserMetadata); diff != "" {
		t.Errorf("user_metadata (-want +got):\n%s", diff)
	}

	failed := generateVideo(t, s, c, "veo-3.0-generate-001", "x", nil)
	if err := s.Finish(failed.Name, "failed"); err != nil {
		t.Fatal(err)
	}
	failed, err = c.Operations.GetVideosOperation(t.Context(), failed, nil)
	if err != nil || !failed.Done || failed.Error == nil || failed.Response != nil {
		t.Fatalf("failed operation: %+v, %v", failed, err)
	}
}

func createInteraction(ctx context.Context, c *genai.Client, m gi.CreateModelInteraction) (*gi.Interaction, error) {
	res, err := c.Interactions.Create(ctx, operations.CreateInteractionRequest{Body: operations.NewCreateInteractionRequestBody(m)})
	if err != nil {
		return nil, err
	}
	return res.Interaction, nil
}

func TestGenAIInteractions(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true, DynamicSigning: signing.SchemeJWT})
	c := newClient(t, s)
	ctx := t.Context()
	dyn := newReceiver(t, 8)
	verify := dynamicVerifier(t, s, &signing.Config{Issuer: s.URL, Audience: []string{dyn.URL}})
	hook := &gi.WebhookConfig{Uris: []string{dyn.URL}, UserMetadata: map[string]any{"ticket": "T-1"}}
	weather := gi.NewTool(gi.Function{Name: ptr("get_weather")})

	// A background interaction that needs a function result.
	it, err := createInteraction(ctx, c, gi.CreateModelInteraction{
		Model: gi.ModelGemini25Flash, Input: ptr(gi.NewInteractionsInput("weather in Paris?")),
		Background: ptr(true), WebhookConfig: hook, Tools: []gi.Tool{weather},
	})
	if err != nil {
		t.Fatalf("Interactions.Create: %v", err)
	}
	if it.Status != gi.InteractionStatusInProgress || it.WebhookConfig == nil || it.WebhookConfig.Uris[0] != dyn.URL {
		t.Fatalf("Create = %+v", it)
	}
	if err := s.Finish(*it.ID, "requires_action"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Interactions.Get(ctx, operations.GetInteractionByIDRequest{ID: *it.ID})
	if err != nil {
		t.Fatalf("Interactions.Get: %v", err)
	}
	g := got.Interaction
	if g.Status != gi.InteractionStatusRequiresAction || len(g.Steps) != 1 || g.Steps[0].FunctionCallStep == nil || g.Steps[0].FunctionCallStep.Name != "get_weather" {
		t.Fatalf("Get = %+v", g)
	}
	ev := parseVerified(t, verify, dyn.next(t))
	if d, err := event.As[*event.Interaction](ev); err != nil || d.ID != *it.ID || ev.UserMetadata["ticket"] != "T-1" {
		t.Fatalf("event %+v %v: %v", d, ev.UserMetadata, err)
	}

	// The follow-up carries the function result and completes.
	result := gi.NewStep(gi.FunctionResultStep{
		CallID: g.Steps[0].FunctionCallStep.ID, Name: ptr("get_weather"),
		Result: gi.NewFunctionResultStepResultUnion("18C, clear"),
	})
	next, err := createInteraction(ctx, c, gi.CreateModelInteraction{
		Model: gi.ModelGemini25Flash, PreviousInteractionID: it.ID, Background: ptr(true), WebhookConfig: hook,
		Input: ptr(gi.NewInteractionsInput([]gi.Step{result})),
	})
	if err != nil {
		t.Fatalf("follow-up Create: %v", err)
	}
	if err := s.Finish(*next.ID, "succeeded"); err != nil {
		t.Fatal(err)
	}
	got, err = c.Interactions.Get(ctx, operations.GetInteractionByIDRequest{ID: *next.ID})
	if err != nil || got.Interaction.Status != gi.InteractionStatusCompleted || got.Interaction.OutputText == nil ||
		*got.Interaction.OutputText != "Emulated response." || *got.Interaction.PreviousInteractionID != *it.ID {
		t.Fatalf("follow-up Get = %+v, %v", got, err)
	}
	if ev := parseVerified(t, verify, dyn.next(t)); ev.Type != event.TypeInteractionCompleted {
		t.Fatalf("got %s, want interaction.completed", ev.Type)
	}

	// Cancel a running one.
	third, err := createInteraction(ctx, c, gi.CreateModelInteraction{
		Model: gi.ModelGemini25Flash, Input: ptr(gi.NewInteractionsInput("long task")), Background: ptr(true), WebhookConfig: hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := c.Interactions.Cancel(ctx, operations.CancelInteractionByIDRequest{ID: *third.ID})
	if err != nil || cancelled.Interaction.Status != gi.InteractionStatusCancelled {
		t.Fatalf("Interactions.Cancel: %+v, %v", cancelled, err)
	}
	if ev := parseVerified(t, verify, dyn.next(t)); ev.Type != event.TypeInteractionCancelled {
		t.Fatalf("got %s, want interaction.cancelled", ev.Type)
	}

	// webhook_config needs background: true.
	_, err = createInteraction(ctx, c, gi.CreateModelInteraction{
		Model: gi.ModelGemini25Flash, Input: ptr(gi.NewInteractionsInput("x")), WebhookConfig: hook,
	})
	// genai's generated schema declares error.code a string for this
	// endpoint, so the Google error body reaches the caller as a
	// ResponseValidationError that keeps the status and the raw body.
	var rve *apierrors.ResponseValidationError
	if !errors.As(err, &rve) || rve.StatusCode != http.StatusBadRequest || !strings.Contains(rve.Body, "background") {
		t.Fatalf("webhook_config without background: %v", err)
	}

	// A foreground interaction answers at once and sends nothing.
	fg, err := createInteraction(ctx, c, gi.CreateModelInteraction{Model: gi.ModelGemini25Flash, Input: ptr(gi.NewInteractionsInput("hi"))})
	if err != nil || fg.Status != gi.InteractionStatusCompleted {
		t.Fatalf("foreground: %+v, %v", fg, err)
	}
	idle(t, s)
	dyn.none(t)
}

// TestGenAISigningHeader sets the SigningHeader through the genai client's
// own per-call hooks (HTTPOptions.Headers, operations.WithSetHeaders): on
// one server, a video asks for the scheme that is not the default and an
// interaction names the default, and each callback is signed as asked.
func TestGenAISigningHeader(t *testing.T) {
	t.Parallel()
	for _, def := range []signing.Scheme{signing.SchemeEd25519, signing.SchemeJWT} {
		t.Run("default "+string(def), func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &emulator.Config{ManualJobs: true, DynamicSigning: def})
			c := newClient(t, s)
			dyn := newReceiver(t, 4)
			verify := dynamicVerifier(t, s, &signing.Config{Issuer: s.URL, Audience: []string{dyn.URL}})
			other := signing.SchemeJWT
			if def == signing.SchemeJWT {
				other = signing.SchemeEd25519
			}

			h := http.Header{}
			h.Set(emulator.SigningHeader, string(other))
			op := generateVideo(t, s, c, "veo-3.0-generate-001", "a lighthouse at dusk", &genai.GenerateVideosConfig{
				WebhookConfig: &genai.WebhookConfig{Uris: []string{dyn.URL}},
				HTTPOptions:   &genai.HTTPOptions{Headers: h},
			})
			it, err := c.Interactions.Create(t.Context(), operations.CreateInteractionRequest{Body: operations.NewCreateInteractionRequestBody(gi.CreateModelInteraction{
				Model: gi.ModelGemini25Flash, Input: ptr(gi.NewInteractionsInput("hi")),
				Background: ptr(true), WebhookConfig: &gi.WebhookConfig{Uris: []string{dyn.URL}},
			})}, operations.WithSetHeaders(map[string]string{emulator.SigningHeader: string(def)}))
			if err != nil {
				t.Fatalf("Interactions.Create: %v", err)
			}
			for _, tc := range []struct {
				job  string
				want signing.Scheme
			}{{op.Name, other}, {*it.Interaction.ID, def}} {
				if err := s.Finish(tc.job, "succeeded"); err != nil {
					t.Fatal(err)
				}
				d := dyn.next(t)
				got, err := verify.Verify(t.Context(), d.header, d.body)
				if err != nil || got != tc.want {
					t.Errorf("%s: Verify = %q, %v; want %q", tc.job, got, err, tc.want)
				}
			}
		})
	}
}

// TestGenAIInteractionStatuses runs a background interaction to each end
// genai knows, reads it through genai, and checks the event each sends.
func TestGenAIInteractionStatuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		outcome emulator.Outcome
		status  gi.InteractionStatus
		event   event.Type
	}{
		{"succeeded", gi.InteractionStatusCompleted, event.TypeInteractionCompleted},
		{"failed", gi.InteractionStatusFailed, event.TypeInteractionFailed},
		{"cancelled", gi.InteractionStatusCancelled, event.TypeInteractionCancelled},
		{"requires_action", gi.InteractionStatusRequiresAction, event.TypeInteractionRequiresAction},
		{"incomplete", gi.InteractionStatusIncomplete, event.TypeInteractionCompleted},
		{"budget_exceeded", gi.InteractionStatusBudgetExceeded, event.TypeInteractionFailed},
	} {
		t.Run(string(tc.outcome), func(t *testing.T) {
			t.Parallel()
			// Jobs wait queued until finished by hand.
			s := newServer(t, &emulator.Config{Pending: time.Hour, Running: time.Hour})
			c := newClient(t, s)
			dyn := newReceiver(t, 1)
			res, err := c.Interactions.Create(t.Context(), operations.CreateInteractionRequest{Body: operations.NewCreateInteractionRequestBody(gi.CreateModelInteraction{
				Model: gi.ModelGemini25Flash, Input: ptr(gi.NewInteractionsInput("hi")),
				Background: ptr(true), WebhookConfig: &gi.WebhookConfig{Uris: []string{dyn.URL}},
			})})
			if err != nil {
				t.Fatal(err)
			}
			if st := res.Interaction.Status; st != gi.InteractionStatusQueued {
				t.Errorf("status at creation %q; want queued", st)
			}
			id := *res.Interaction.ID
			if err := s.Finish(id, tc.outcome); err != nil {
				t.Fatal(err)
			}
			ev := parseVerified(t, dynamicVerifier(t, s, nil), dyn.next(t))
			if ev.Type != tc.event || ev.JobID != id {
				t.Errorf("event %s for %s; want %s for %s", ev.Type, ev.JobID, tc.event, id)
			}
			got, err := c.Interactions.Get(t.Context(), operations.GetInteractionByIDRequest{ID: id})
			if err != nil || got.Interaction.Status != tc.status {
				t.Fatalf("Get: %+v, %v; want status %s", got, err, tc.status)
			}
		})
	}
}

// TestGenAIRequiresContinuation checks a foreground interaction that stops
// at requires_continuation: genai's automatic continuation sends the token
// and ends completed; a wrong token, and the outcome on a background
// interaction, are refused.
func TestGenAIRequiresContinuation(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c := newClient(t, s)
	header := operations.WithSetHeaders(map[string]string{emulator.OutcomeHeader: string("requires_continuation")})
	req := operations.CreateInteractionRequest{Body: operations.NewCreateInteractionRequestBody(gi.CreateModelInteraction{
		Model: gi.ModelGemini25Flash, Input: ptr(gi.NewInteractionsInput("a long story")),
	})}
	res, err := c.Interactions.Create(t.Context(), req, header)
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Interaction.Status; st != gi.InteractionStatusCompleted {
		t.Errorf("after automatic continuation: status %q; want completed", st)
	}

	code, b := call(t, s, http.MethodPost, "/v1beta/interactions", `{"model":"gemini-2.5-flash","input":"x"}`,
		emulator.OutcomeHeader, string("requires_continuation"))
	var stopped struct {
		ID, Status        string
		ContinuationToken string `json:"continuation_token"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &stopped) != nil || stopped.Status != "requires_continuation" || stopped.ContinuationToken == "" {
		t.Fatalf("create: %d %s", code, b)
	}
	if code, b := call(t, s, http.MethodPost, "/v1beta/interactions",
		`{"model":"gemini-2.5-flash","previous_interaction_id":"`+stopped.ID+`","continuation_token":"ct_wrong"}`); code != http.StatusBadRequest {
		t.Errorf("wrong token: %d %s", code, b)
	}
	if code, b := call(t, s, http.MethodPost, "/v1beta/interactions", `{"model":"gemini-2.5-flash","input":"x","background":true}`,
		emulator.OutcomeHeader, string("requires_continuation")); code != http.StatusBadRequest {
		t.Errorf("background requires_continuation: %d %s", code, b)
	}
}

// TestGenAIVideoInteraction checks an interaction asked for a video: it
// ends with a video output that downloads, and sends video.generated.
func TestGenAIVideoInteraction(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true})
	c := newClient(t, s)
	dyn := newReceiver(t, 1)
	format := gi.NewCreateModelInteractionResponseFormat(gi.NewResponseFormat(gi.VideoResponseFormat{}))
	res, err := c.Interactions.Create(t.Context(), operations.CreateInteractionRequest{Body: operations.NewCreateInteractionRequestBody(gi.CreateModelInteraction{
		Model: "gemini-omni-1.2-flash", Input: ptr(gi.NewInteractionsInput("a red balloon over a lake")),
		ResponseFormat: &format, Background: ptr(true),
		WebhookConfig: &gi.WebhookConfig{Uris: []string{dyn.URL}, UserMetadata: map[string]any{"clip": "7"}},
	})})
	if err != nil {
		t.Fatal(err)
	}
	id := *res.Interaction.ID
	if err := s.Finish(id, "succeeded"); err != nil {
		t.Fatal(err)
	}
	ev := parseVerified(t, dynamicVerifier(t, s, nil), dyn.next(t))
	d, err := event.As[*event.Video](ev)
	if err != nil || d.ID != id || ev.UserMetadata["clip"] != "7" {
		t.Fatalf("event %+v, %v", ev, err)
	}
	got, err := c.Interactions.Get(t.Context(), operations.GetInteractionByIDRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	got.Interaction.PopulateOutputProperties()
	v := got.Interaction.OutputVideo
	if v == nil || v.URI == nil || *v.URI != d.Location() {
		t.Fatalf("output video %+v; want %s", v, d.Location())
	}
	if video := fetch(t, s, *v.URI); http.DetectContentType(video) != "video/mp4" {
		t.Errorf("video bytes sniff as %s", http.DetectContentType(video))
	}
}
