package geminihooks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// delivery is one webhook delivery a receiver got.
type delivery struct {
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a webhook endpoint for tests: every delivery is answered 204
// and handed over on a channel.
type receiver struct {
	*httptest.Server
	got chan delivery
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{got: make(chan delivery, 64)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.got <- delivery{req.URL.Path, req.Header.Clone(), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// next waits for the next delivery, failing the test at the deadline.
func (r *receiver) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-r.got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
		return delivery{}
	}
}

// newEmulator starts an emulator whose jobs finish at once, and a client for
// it. front, when non-nil, wraps the emulator's handler (to inject faults) in
// a server of its own, which the client then talks to.
func newEmulator(t *testing.T, front func(http.Handler) http.Handler, cfg *emulator.Config) (*emulator.Server, *geminihooks.Client) {
	emu, c, _ := newFrontedEmulator(t, front, cfg)
	return emu, c
}

// newFrontedEmulator is newEmulator that also returns the server the client
// talks to.
func newFrontedEmulator(t *testing.T, front func(http.Handler) http.Handler, cfg *emulator.Config) (*emulator.Server, *geminihooks.Client, *httptest.Server) {
	t.Helper()
	var ec emulator.Config
	if cfg != nil {
		ec = *cfg
	}
	ec.InsecureAllowHTTPLoopback = true
	emu, err := emulator.NewServer(&ec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	base := emu.URL
	var fs *httptest.Server
	if front != nil {
		fs = httptest.NewServer(front(emu))
		t.Cleanup(fs.Close)
		base = fs.URL
	}
	gc, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      emu.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: base},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := geminihooks.NewClient(gc, &geminihooks.Config{InsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return emu, c, fs
}

func verifyHMAC(t *testing.T, d delivery, secrets ...geminihooks.Secret) error {
	t.Helper()
	s := make([]string, len(secrets))
	for i, sc := range secrets {
		s[i] = string(sc)
	}
	v, err := signing.NewVerifier(&signing.Config{Secrets: s})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), d.Header, d.Body)
	return err
}

func TestE2EWebhookLifecycle(t *testing.T) {
	t.Parallel()
	_, c := newEmulator(t, nil, nil)
	rcv := newReceiver(t)
	ctx := context.Background()

	created, firstSecret, err := c.Webhooks.Create(ctx, geminihooks.Webhook{
		URI:    rcv.URL + "/main",
		Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
		Name:   "main",
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || firstSecret == "" || created.State != geminihooks.StateEnabled || len(created.SigningSecrets) != 1 {
		t.Fatalf("created %+v", created)
	}

	// List across pages.
	want := []string{created.ID}
	for i := range 4 {
		w, _, err := c.Webhooks.Create(ctx, geminihooks.Webhook{URI: fmt.Sprintf("%s/extra%d", rcv.URL, i), Events: []event.Type{event.TypeVideoGenerated}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, w.ID)
	}
	page, err := c.Webhooks.List(ctx, &geminihooks.ListOptions{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Webhooks) != 2 || page.NextPageToken == "" {
		t.Fatalf("first page of 2: %d webhooks, next %q", len(page.Webhooks), page.NextPageToken)
	}
	var got []string
	for w, err := range c.Webhooks.All(ctx, &geminihooks.ListOptions{PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, w.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("All across pages (-want +got):\n%s", d)
	}

	// Update.
	updated, err := c.Webhooks.Update(ctx, created.ID, geminihooks.WebhookUpdate{
		Name:   new("renamed"),
		Events: []event.Type{event.TypeBatchSucceeded},
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Name != "renamed" || !slices.Equal(updated.Events, []event.Type{event.TypeBatchSucceeded}) || updated.URI != rcv.URL+"/main" {
		t.Errorf("updated %+v", updated)
	}
	disabled, err := c.Webhooks.Update(ctx, created.ID, geminihooks.WebhookUpdate{State: new(geminihooks.StateDisabled)})
	if err != nil || disabled.State != geminihooks.StateDisabled {
		t.Fatalf("disable: %v, state %q", err, disabled.State)
	}
	enabled, err := c.Webhooks.Update(ctx, created.ID, geminihooks.WebhookUpdate{State: new(geminihooks.StateEnabled)})
	if err != nil || enabled.State != geminihooks.StateEnabled {
		t.Fatalf("enable: %v, state %q", err, enabled.State)
	}

	// Ping: a signed delivery the creation secret verifies.
	if err := c.Webhooks.Ping(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	d := rcv.next(t)
	if err := verifyHMAC(t, d, firstSecret); err != nil {
		t.Fatalf("ping does not verify with the creation secret: %v", err)
	}
	ev, err := event.Parse(d.Body)
	if err != nil || ev.Type != "webhook.ping" || ev.JobID != created.ID {
		t.Errorf("ping event %+v, %v", ev, err)
	}

	// Rotate with a grace period: old and new secrets both verify.
	graceSecret, err := c.Webhooks.RotateSigningSecret(ctx, created.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if graceSecret == firstSecret {
		t.Fatal("rotation returned the same secret")
	}
	w, err := c.Webhooks.Get(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	expiring := 0
	for _, s := range w.SigningSecrets {
		if !s.ExpireTime.IsZero() {
			expiring++
		}
	}
	if len(w.SigningSecrets) != 2 || expiring != 1 {
		t.Errorf("after a graceful rotation: %+v", w.SigningSecrets)
	}
	if err := c.Webhooks.Ping(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	d = rcv.next(t)
	for name, s := range map[string]geminihooks.Secret{"old": firstSecret, "new": graceSecret} {
		if err := verifyHMAC(t, d, s); err != nil {
			t.Errorf("during the grace period the %s secret does not verify: %v", name, err)
		}
	}

	// Rotate immediately: only the newest secret verifies.
	newest, err := c.Webhooks.RotateSigningSecret(ctx, created.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Webhooks.Ping(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	d = rcv.next(t)
	if err := verifyHMAC(t, d, newest); err != nil {
		t.Errorf("the newest secret does not verify: %v", err)
	}
	for name, s := range map[string]geminihooks.Secret{"first": firstSecret, "grace": graceSecret} {
		if err := verifyHMAC(t, d, s); !errors.Is(err, signing.ErrNoMatchingSignature) {
			t.Errorf("after immediate revocation the %s secret gives %v, want ErrNoMatchingSignature", name, err)
		}
	}

	// Delete.
	if err := c.Webhooks.Delete(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Webhooks.Get(ctx, created.ID); !errors.Is(err, geminihooks.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
}

// TestE2EJobCallbacks launches each job kind with a callback and checks the
// event that arrives: signed with the emulator's keys, of the right type,
// and carrying the callback's user metadata.
func TestE2EJobCallbacks(t *testing.T) {
	t.Parallel()
	for _, scheme := range []signing.Scheme{signing.SchemeEd25519, signing.SchemeJWT} {
		t.Run(string(scheme), func(t *testing.T) {
			t.Parallel()
			emu, c := newEmulator(t, nil, &emulator.Config{DynamicSigning: scheme})
			keys, err := emu.PublicKeys()
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
			rcv := newReceiver(t)
			v, err := signing.NewVerifier(&signing.Config{Keys: ks,
				Audience: []string{rcv.URL + "/batch", rcv.URL + "/video", rcv.URL + "/interaction"},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			launch := map[string]func(cb *geminihooks.Callback) (string, error){
				"batch": func(cb *geminihooks.Callback) (string, error) {
					job, err := c.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{
						InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}},
					}, &genai.CreateBatchJobConfig{DisplayName: "e2e"}, cb)
					if err != nil {
						return "", err
					}
					return job.Name, nil
				},
				"video": func(cb *geminihooks.Callback) (string, error) {
					op, err := c.Videos.Generate(ctx, "veo-3.0-generate-001", &genai.GenerateVideosSource{Prompt: "a cat"}, nil, cb)
					if err != nil {
						return "", err
					}
					return op.Name, nil
				},
				"interaction": func(cb *geminihooks.Callback) (string, error) {
					it, err := c.Interactions.Create(ctx, geminihooks.InteractionRequest{Model: "gemini-2.5-flash", Input: "hi"}, cb)
					if err != nil {
						return "", err
					}
					return it.ID, nil
				},
			}
			wantType := map[string]event.Type{"batch": event.TypeBatchSucceeded, "video": event.TypeVideoGenerated, "interaction": event.TypeInteractionCompleted}
			byPath := map[string]delivery{}
			names := map[string]string{}
			for kind, fn := range launch {
				name, err := fn(&geminihooks.Callback{
					URIs:         []string{rcv.URL + "/" + kind},
					UserMetadata: map[string]any{"kind": kind, "attempt": 1, "tags": []any{"e2e"}},
				})
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				names[kind] = name
			}
			for range launch {
				d := rcv.next(t)
				byPath[d.Path] = d
			}
			for kind := range launch {
				d, ok := byPath["/"+kind]
				if !ok {
					t.Errorf("%s: no event", kind)
					continue
				}
				scheme, err := v.Verify(ctx, d.Header, d.Body)
				if err != nil {
					t.Errorf("%s: event does not verify: %v", kind, err)
				}
				if scheme != signing.Scheme(t.Name()[len("TestE2EJobCallbacks/"):]) {
					t.Errorf("%s: verified as %q", kind, scheme)
				}
				ev, err := event.Parse(d.Body)
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				if ev.Type != wantType[kind] {
					t.Errorf("%s: event type %q, want %q", kind, ev.Type, wantType[kind])
				}
				wantMeta := map[string]any{"kind": kind, "attempt": float64(1), "tags": []any{"e2e"}}
				if diff := cmp.Diff(wantMeta, ev.UserMetadata); diff != "" {
					t.Errorf("%s: user metadata (-want +got):\n%s", kind, diff)
				}
				if ev.JobID == "" || (kind != "video" && ev.JobID != names[kind]) {
					t.Errorf("%s: event job id %q, launched %q", kind, ev.JobID, names[kind])
				}
			}
		})
	}
}

// TestE2ERequiresAction runs a function-calling loop on callbacks alone: the
// interaction asks for a function result, the answer carries the same
// callback, and the follow-up's completion arrives there too.
func TestE2ERequiresAction(t *testing.T) {
	t.Parallel()
	_, c := newEmulator(t, nil, &emulator.Config{
		Outcome: func(j emulator.Job) emulator.Outcome {
			if j.UserMetadata["step"] == "first" {
				return "requires_action"
			}
			return "succeeded"
		},
	})
	rcv := newReceiver(t)
	ctx := context.Background()
	cb := &geminihooks.Callback{URIs: []string{rcv.URL + "/loop"}, UserMetadata: map[string]any{"step": "first"}}
	tools := []geminihooks.Function{{Name: "get_weather"}}
	it, err := c.Interactions.Create(ctx, geminihooks.InteractionRequest{
		Model: "gemini-2.5-flash",
		Input: "weather in Oslo?",
		Tools: tools,
	}, cb)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Parse(rcv.next(t).Body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != event.TypeInteractionRequiresAction || ev.JobID != it.ID {
		t.Fatalf("first event %s for %s, want requires_action for %s", ev.Type, ev.JobID, it.ID)
	}
	waiting, err := c.Interactions.Get(ctx, ev.JobID)
	if err != nil {
		t.Fatal(err)
	}
	calls := waiting.FunctionCalls
	if waiting.Status != "requires_action" || len(calls) != 1 || calls[0].Name != "get_weather" {
		t.Fatalf("status %s, calls %+v", waiting.Status, calls)
	}
	// The carried callback keeps step=first, so answer with a new one that
	// lets the emulator complete the follow-up.
	calls[0].Result = map[string]any{"temp_c": 4}
	next, err := c.Interactions.SubmitFunctionResults(ctx, ev.JobID, calls,
		&geminihooks.Callback{URIs: cb.URIs, UserMetadata: map[string]any{"step": "second"}})
	if err != nil {
		t.Fatal(err)
	}
	ev2, err := event.Parse(rcv.next(t).Body)
	if err != nil {
		t.Fatal(err)
	}
	if ev2.Type != event.TypeInteractionCompleted || ev2.JobID != next.ID || ev2.UserMetadata["step"] != "second" {
		t.Errorf("second event %s for %s (%v), want completed for %s", ev2.Type, ev2.JobID, ev2.UserMetadata, next.ID)
	}
	// With no callback given, the interaction's own is carried over.
	it3, err := c.Interactions.Create(ctx, geminihooks.InteractionRequest{
		Model: "gemini-2.5-flash", Tools: tools, Input: "again",
	}, cb)
	if err != nil {
		t.Fatal(err)
	}
	if ev3, _ := event.Parse(rcv.next(t).Body); ev3 == nil || ev3.JobID != it3.ID {
		t.Fatalf("no requires_action event for %s", it3.ID)
	}
	waiting, err = c.Interactions.Get(ctx, it3.ID)
	if err != nil || len(waiting.FunctionCalls) != 1 {
		t.Fatalf("interaction %+v, %v; want one call", waiting, err)
	}
	if _, err := c.Interactions.SubmitFunctionResults(ctx, it3.ID, []geminihooks.FunctionCall{{ID: waiting.FunctionCalls[0].ID, Result: "4C"}}, nil); err != nil {
		t.Fatal(err)
	}
	ev4, err := event.Parse(rcv.next(t).Body)
	if err != nil {
		t.Fatal(err)
	}
	// Same callback, same metadata: the emulator asks for action again.
	if ev4.Type != event.TypeInteractionRequiresAction || ev4.UserMetadata["step"] != "first" {
		t.Errorf("carried-callback event %s %v", ev4.Type, ev4.UserMetadata)
	}
}

// TestE2EErrors covers the error paths against the emulator: its own 404 and
// 400 answers, a 429 injected in front of it, and a network failure.
func TestE2EErrors(t *testing.T) {
	t.Parallel()
	var limit atomic.Bool
	_, c, front := newFrontedEmulator(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if limit.Load() {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}, nil)
	ctx := context.Background()

	_, err := c.Webhooks.Get(ctx, "doesnotexist")
	var api *geminihooks.APIError
	if !errors.Is(err, geminihooks.ErrNotFound) || !errors.As(err, &api) || api.Status != "NOT_FOUND" {
		t.Errorf("unknown webhook: %v", err)
	}
	_, err = c.Webhooks.Update(ctx, "doesnotexist", geminihooks.WebhookUpdate{Name: new("x")})
	if !errors.Is(err, geminihooks.ErrNotFound) {
		t.Errorf("update of an unknown webhook: %v", err)
	}

	w, _, err := c.Webhooks.Create(ctx, geminihooks.Webhook{URI: "https://example.com/h", Events: []event.Type{event.TypeBatchFailed}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Webhooks.Update(ctx, w.ID, geminihooks.WebhookUpdate{State: new(geminihooks.State("paused"))})
	if !errors.Is(err, geminihooks.ErrInvalidArgument) || !errors.As(err, &api) || api.StatusCode != 400 || api.Message == "" {
		t.Errorf("invalid state: %v", err)
	}
	_, err = c.Interactions.Get(ctx, "doesnotexist")
	if !errors.Is(err, geminihooks.ErrNotFound) {
		t.Errorf("unknown interaction: %v", err)
	}

	limit.Store(true)
	_, err = c.Webhooks.List(ctx, nil)
	if !errors.As(err, &api) || api.StatusCode != http.StatusTooManyRequests || api.Status != "RESOURCE_EXHAUSTED" {
		t.Errorf("429: %v", err)
	}
	limit.Store(false)

	limit.Store(true)
	_, err = c.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{FileName: "files/in"}, nil, nil)
	if !errors.As(err, &api) || api.StatusCode != http.StatusTooManyRequests || api.Status != "RESOURCE_EXHAUSTED" {
		t.Errorf("429 from a batch: %v", err)
	}
	limit.Store(false)

	front.Close()
	_, err = c.Webhooks.List(ctx, nil)
	if err == nil || errors.As(err, &api) {
		t.Errorf("after the emulator closed: %v, want a network error", err)
	}
}

// TestE2EGenAIDefaults builds the Client as a user does, on
// genai.NewClient(ctx, nil) and the environment, with no API version set
// anywhere (genai v1.78 and later then default to v1), and checks that
// webhooks and a video with a callback work against the emulator, which
// serves WebhookService on v1beta only.
func TestE2EGenAIDefaults(t *testing.T) {
	emu, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true, ManualJobs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	t.Setenv("GEMINI_API_KEY", emu.APIKey)
	t.Setenv("GOOGLE_API_KEY", "")
	t.Setenv("GOOGLE_GEMINI_BASE_URL", emu.URL)
	t.Setenv("GOOGLE_GENAI_API_VERSION", "")
	t.Setenv("GOOGLE_GENAI_USE_VERTEXAI", "")
	t.Setenv("GOOGLE_GENAI_USE_ENTERPRISE", "")
	ctx := t.Context()
	gc, err := genai.NewClient(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := geminihooks.NewClient(gc, &geminihooks.Config{InsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	wh, secret, err := c.Webhooks.Create(ctx, geminihooks.Webhook{URI: rcv.URL + "/static", Events: []event.Type{event.TypeBatchSucceeded}})
	if err != nil {
		t.Fatalf("Webhooks.Create: %v", err)
	}
	if err := c.Webhooks.Ping(ctx, wh.ID); err != nil {
		t.Fatalf("Webhooks.Ping: %v", err)
	}
	if err := verifyHMAC(t, rcv.next(t), secret); err != nil {
		t.Errorf("ping delivery: %v", err)
	}
	op, err := c.Videos.Generate(ctx, "veo-3.0-generate-001", &genai.GenerateVideosSource{Prompt: "a cat"}, nil,
		&geminihooks.Callback{URIs: []string{rcv.URL + "/video"}, UserMetadata: map[string]any{"order": "7"}})
	if err != nil {
		t.Fatalf("Videos.Generate: %v", err)
	}
	if err := emu.Finish(op.Name, "succeeded"); err != nil {
		t.Fatal(err)
	}
	d := rcv.next(t)
	ev, err := event.Parse(d.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != event.TypeVideoGenerated || ev.JobID != op.Name || ev.UserMetadata["order"] != "7" {
		t.Errorf("event %s for %s with %v; want video.generated for %s", ev.Type, ev.JobID, ev.UserMetadata, op.Name)
	}
	got, err := c.Videos.Get(ctx, op.Name)
	if err != nil || !got.Done || got.Response == nil || len(got.Response.GeneratedVideos) != 1 {
		t.Errorf("Videos.Get = %+v, %v; want done with one video", got, err)
	}
}
