package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/operations"
)

type apiErrorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

func TestRejections(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true})
	hook, _ := createWebhook(t, s, "https://example.com/hook", "batch.succeeded")
	const batchPath = "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
	const input = `"input_config":{"requests":{"requests":[{"request":{}}]}}`
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		code                     int
		status, message          string // message: a substring, or the whole text when exact
		exact                    bool
	}{
		{name: "missing key", method: "GET", path: "/v1beta/webhooks", header: []string{"x-goog-api-key", ""},
			code: 403, status: "PERMISSION_DENIED", message: "unregistered callers"},
		{name: "wrong key", method: "GET", path: "/v1beta/webhooks", header: []string{"x-goog-api-key", "nope"},
			code: 400, status: "INVALID_ARGUMENT", message: "API key not valid. Please pass a valid API key.", exact: true},
		{name: "malformed json", method: "POST", path: "/v1beta/webhooks", body: `{"uri":`,
			code: 400, status: "INVALID_ARGUMENT", message: "Invalid JSON payload received."},
		{name: "not an object", method: "POST", path: "/v1beta/webhooks", body: `[1,2]`,
			code: 400, status: "INVALID_ARGUMENT", message: "Invalid JSON payload received."},
		{name: "unknown field", method: "POST", path: "/v1beta/webhooks", body: `{"uri":"https://a.example","subscribed_events":["batch.failed"],"colour":"red"}`,
			code: 400, status: "INVALID_ARGUMENT", message: `Invalid JSON payload received. Unknown name "colour": Cannot find field.`, exact: true},
		{name: "unknown event", method: "POST", path: "/v1beta/webhooks", body: `{"uri":"https://a.example","subscribed_events":["batch.failed","batch.exploded"]}`,
			code: 400, status: "INVALID_ARGUMENT", message: `subscribed_events[1]' (TYPE_ENUM), "batch.exploded"`},
		{name: "http uri", method: "POST", path: "/v1beta/webhooks", body: `{"uri":"http://a.example/x","subscribed_events":["batch.failed"]}`,
			code: 400, status: "INVALID_ARGUMENT", message: "must use https"},
		{name: "relative uri", method: "POST", path: "/v1beta/webhooks", body: `{"uri":"/x","subscribed_events":["batch.failed"]}`,
			code: 400, status: "INVALID_ARGUMENT", message: "not a valid URL"},
		{name: "uri with a port and no host", method: "POST", path: "/v1beta/webhooks", body: `{"uri":"https://:443/x","subscribed_events":["batch.failed"]}`,
			code: 400, status: "INVALID_ARGUMENT", message: "not a valid URL"},
		{name: "update to auto-disabled", method: "PATCH", path: "/v1beta/webhooks/" + hook + "?update_mask=state", body: `{"state":"disabled_due_to_failed_deliveries"}`,
			code: 400, status: "INVALID_ARGUMENT", message: "cannot be set"},
		{name: "update unknown mask", method: "PATCH", path: "/v1beta/webhooks/" + hook + "?update_mask=colour", body: `{}`,
			code: 400, status: "INVALID_ARGUMENT", message: "update_mask"},
		{name: "rotate bad behaviour", method: "POST", path: "/v1beta/webhooks/" + hook + ":rotateSigningSecret", body: `{"revocation_behavior":"never"}`,
			code: 400, status: "INVALID_ARGUMENT", message: "revocation_behavior"},
		{name: "unknown webhook", method: "GET", path: "/v1beta/webhooks/nope",
			code: 404, status: "NOT_FOUND", message: "nope"},
		{name: "bad page token", method: "GET", path: "/v1beta/webhooks?page_token=zzz",
			code: 400, status: "INVALID_ARGUMENT", message: "page_token"},
		{name: "webhooks on v1", method: "GET", path: "/v1/webhooks",
			code: 404, status: "NOT_FOUND", message: "Method not found."},
		{name: "webhook ping on v1", method: "POST", path: "/v1/webhooks/" + hook + ":ping", body: `{}`,
			code: 404, status: "NOT_FOUND", message: "Method not found."},
		{name: "webhooks on v1alpha", method: "POST", path: "/v1alpha/webhooks", body: `{"uri":"https://a.example","subscribed_events":["batch.failed"]}`,
			code: 404, status: "NOT_FOUND", message: "Method not found."},
		{name: "unknown method", method: "GET", path: "/v1beta/tunedModels",
			code: 404, status: "NOT_FOUND", message: "Method not found."},
		{name: "batch camelCase userMetadata", method: "POST", path: batchPath,
			body: `{"batch":{` + input + `,"webhookConfig":{"uris":["https://a.example"],"userMetadata":{"a":1}}}}`,
			code: 400, status: "INVALID_ARGUMENT", exact: true,
			message: `Invalid JSON payload received. Unknown name "userMetadata" at 'batch.webhook_config': Cannot find field.`},
		{name: "batch http webhook_config", method: "POST", path: batchPath,
			body: `{"batch":{` + input + `,"webhook_config":{"uris":["http://a.example"]}}}`,
			code: 400, status: "INVALID_ARGUMENT", message: "batch.webhook_config.uris[0]"},
		{name: "batch without input", method: "POST", path: batchPath, body: `{"batch":{}}`,
			code: 400, status: "INVALID_ARGUMENT", message: "input_config"},
		{name: "batch bad outcome header", method: "POST", path: batchPath, body: `{"batch":{` + input + `}}`,
			header: []string{emulator.OutcomeHeader, "requires_action"}, code: 400, status: "INVALID_ARGUMENT", message: "not an outcome"},
		{name: "batch bad signing header", method: "POST", path: batchPath,
			body:   `{"batch":{` + input + `,"webhook_config":{"uris":["https://a.example"]}}}`,
			header: []string{emulator.SigningHeader, "v1"}, code: 400, status: "INVALID_ARGUMENT", message: "use v1a or jwt"},
		{name: "signing header without webhook_config", method: "POST", path: batchPath, body: `{"batch":{` + input + `}}`,
			header: []string{emulator.SigningHeader, "jwt"}, code: 400, status: "INVALID_ARGUMENT", message: "registered webhooks always sign v1"},
		{name: "interaction webhook_config without background", method: "POST", path: "/v1beta/interactions",
			body: `{"model":"gemini-2.5-flash","input":"hi","webhook_config":{"uris":["https://a.example"]}}`,
			code: 400, status: "INVALID_ARGUMENT", message: "background"},
		{name: "interaction webhook_config background false", method: "POST", path: "/v1beta/interactions",
			body: `{"model":"gemini-2.5-flash","input":"hi","background":false,"webhook_config":{"uris":["https://a.example"]}}`,
			code: 400, status: "INVALID_ARGUMENT", message: "background"},
		{name: "interaction malformed", method: "POST", path: "/v1beta/interactions", body: `{"model":}`,
			code: 400, status: "INVALID_ARGUMENT", message: "Invalid JSON payload received."},
		{name: "continuation without result", method: "POST", path: "/v1beta/interactions",
			body: `{"model":"gemini-2.5-flash","previous_interaction_id":"v1_missing","input":"hi"}`,
			code: 404, status: "NOT_FOUND", message: "v1_missing"},
		{name: "cancel unknown batch", method: "POST", path: "/v1beta/batches/nope:cancel",
			code: 404, status: "NOT_FOUND", message: "batches/nope"},
		{name: "video without instances", method: "POST", path: "/v1beta/models/veo-3.0-generate-001:predictLongRunning", body: `{}`,
			code: 400, status: "INVALID_ARGUMENT", message: "instances"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, b := call(t, s, tc.method, tc.path, tc.body, tc.header...)
			var e apiErrorBody
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if code != tc.code || e.Error.Code != tc.code || e.Error.Status != tc.status {
				t.Fatalf("got %d %s, want %d %s", code, b, tc.code, tc.status)
			}
			if tc.exact && e.Error.Message != tc.message || !strings.Contains(e.Error.Message, tc.message) {
				t.Fatalf("message %q, want %q", e.Error.Message, tc.message)
			}
		})
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	for i := range 1001 {
		createWebhook(t, s, fmt.Sprintf("https://example.com/%d", i), "video.generated")
	}
	list := func(query string) (n int, token string) {
		code, b := call(t, s, http.MethodGet, "/v1beta/webhooks"+query, "")
		var out struct {
			Webhooks []json.RawMessage `json:"webhooks"`
			Token    string            `json:"next_page_token"`
		}
		if code != http.StatusOK || json.Unmarshal(b, &out) != nil {
			t.Fatalf("list: %d %.200s", code, b)
		}
		return len(out.Webhooks), out.Token
	}
	for _, tc := range []struct {
		query     string
		want      int
		wantToken bool
	}{
		{"", 50, true},
		{"?page_size=0", 50, true},
		{"?page_size=5000", 1000, true},
		{"?pageSize=1000", 1000, true},
		{"?page_size=2000&page_token=" + mustToken(t, list, "?page_size=1000"), 1, false},
	} {
		if n, token := list(tc.query); n != tc.want || (token != "") != tc.wantToken {
			t.Errorf("list%s: %d webhooks, token %q; want %d, token %v", tc.query, n, token, tc.want, tc.wantToken)
		}
	}
}

func mustToken(t *testing.T, list func(string) (int, string), query string) string {
	t.Helper()
	_, token := list(query)
	if token == "" {
		t.Fatalf("list%s: no next_page_token", query)
	}
	return token
}

// TestLifecycle lets jobs run on their own and checks each outcome's state
// and event.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		chosen []string
	)
	s := newServer(t, &emulator.Config{
		Pending: time.Millisecond,
		Running: time.Millisecond,
		Outcome: func(j emulator.Job) emulator.Outcome {
			mu.Lock()
			defer mu.Unlock()
			chosen = append(chosen, j.DisplayName)
			if j.DisplayName == "doomed" {
				return "failed"
			}
			return ""
		},
	})
	rcv := newReceiver(t, 8)
	createWebhook(t, s, rcv.URL, "batch.succeeded", "batch.failed", "batch.expired", "interaction.failed", "interaction.completed")

	ok := createBatch(t, s, "")
	expired := createBatch(t, s, "", emulator.OutcomeHeader, "expired")
	code, b := call(t, s, http.MethodPost, "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
		`{"batch":{"displayName":"doomed","inputConfig":{"fileName":"files/in"}}}`)
	var failed struct{ Name string }
	if code != http.StatusOK || json.Unmarshal(b, &failed) != nil {
		t.Fatalf("create: %d %s", code, b)
	}
	code, b = call(t, s, http.MethodPost, "/v1beta/interactions", `{"model":"gemini-2.5-flash","input":"x","background":true}`,
		emulator.OutcomeHeader, "failed")
	var it struct{ ID, Status string }
	if code != http.StatusOK || json.Unmarshal(b, &it) != nil || it.Status != "queued" {
		t.Fatalf("create interaction: %d %s", code, b)
	}

	want := map[string]emulator.Outcome{ok: "succeeded", expired: "expired",
		failed.Name: "failed", it.ID: "failed"}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for name, o := range want {
		j, err := s.WaitJob(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !j.Done() || j.Outcome != o || j.Phase != string(o) || j.EndTime.Before(j.CreateTime) {
			t.Errorf("%s: %+v, want outcome %s", name, j, o)
		}
	}
	if err := s.Finish(ok, "failed"); !errors.Is(err, emulator.ErrJobDone) {
		t.Errorf("Finish on a finished job: %v, want ErrJobDone", err)
	}
	if err := s.Finish("batches/none", "failed"); !errors.Is(err, emulator.ErrNoJob) {
		t.Errorf("Finish on no job: %v, want ErrNoJob", err)
	}
	idle(t, s)

	got := map[string]event.Type{}
	for range 4 {
		ev, err := event.Parse(rcv.next(t).body)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ev.Decode()
		if err != nil {
			t.Fatal(err)
		}
		switch d := d.(type) {
		case *event.Batch:
			got[d.ID] = ev.Type
		case *event.Interaction:
			if d.ErrorCode != "INTERNAL" {
				t.Errorf("interaction error_code = %q", d.ErrorCode)
			}
			got[d.ID] = ev.Type
		default:
			t.Errorf("unexpected %T", d)
		}
	}
	wantEvents := map[string]event.Type{ok: event.TypeBatchSucceeded, expired: event.TypeBatchExpired,
		failed.Name: event.TypeBatchFailed, it.ID: event.TypeInteractionFailed}
	if diff := cmp.Diff(wantEvents, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Headers decided the expired batch and the interaction; the chooser saw
	// the other two.
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"t", "doomed"}, chosen); diff != "" {
		t.Errorf("chooser calls (-want +got):\n%s", diff)
	}

	// A job's phases as the REST surface shows them, once done.
	code, b = call(t, s, http.MethodGet, "/v1beta/"+expired, "")
	if code != http.StatusOK || !strings.Contains(string(b), `"state":"BATCH_STATE_EXPIRED"`) {
		t.Errorf("get expired batch: %d %s", code, b)
	}
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true, RetryBackoff: time.Millisecond, RetryBackoffMax: time.Millisecond})
	rcv := newReceiver(t, 4)
	createWebhook(t, s, rcv.URL, "batch.failed")
	name := createBatch(t, s, "")

	for _, tc := range []struct {
		name, path, body string
		header           []string
		code             int
	}{
		{"no key", "/emulator/v1/faults", `{}`, []string{"x-goog-api-key", ""}, 403},
		{"bad duration", "/emulator/v1/faults", `{"delay":"soon"}`, nil, 400},
		{"bad rate", "/emulator/v1/faults", `{"duplicate_rate":2}`, nil, 400},
		{"negative fail_next", "/emulator/v1/faults", `{"fail_next":-1}`, nil, 400},
		{"set faults", "/emulator/v1/faults", `{"fail_first":1,"delay":"1ms"}`, nil, 200},
		{"unknown job", "/emulator/v1/jobs:finish", `{"name":"batches/none"}`, nil, 404},
		{"wrong outcome", "/emulator/v1/jobs:finish", `{"name":"` + name + `","outcome":"requires_action"}`, nil, 400},
		{"finish", "/emulator/v1/jobs:finish", `{"name":"` + name + `","outcome":"failed"}`, nil, 200},
		{"finish again", "/emulator/v1/jobs:finish", `{"name":"` + name + `","outcome":"failed"}`, nil, 400},
	} {
		if code, b := call(t, s, http.MethodPost, tc.path, tc.body, tc.header...); code != tc.code {
			t.Fatalf("%s: %d %s, want %d", tc.name, code, b, tc.code)
		}
	}
	if j, err := s.Job(name); err != nil || j.Outcome != "failed" {
		t.Fatalf("job = %+v, %v", j, err)
	}
	idle(t, s)
	rcv.next(t)
	var faults []string
	for _, a := range s.Attempts() {
		faults = append(faults, strings.Join(a.Faults, "+"))
	}
	if diff := cmp.Diff([]string{"delay+fail", "delay"}, faults); diff != "" {
		t.Errorf("faults set over HTTP (-want +got):\n%s", diff)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     emulator.Config
		mention string
	}{
		{"negative time scale", emulator.Config{TimeScale: -1}, "Config.TimeScale is -1"},
		{"infinite time scale", emulator.Config{TimeScale: math.Inf(1)}, "Config.TimeScale"},
		{"NaN time scale", emulator.Config{TimeScale: math.NaN()}, "Config.TimeScale"},
		{"negative duration", emulator.Config{Pending: -time.Second}, "Config.Pending is -1s"},
		{"negative running", emulator.Config{Running: -time.Second}, "Config.Running"},
		{"bad scheme", emulator.Config{DynamicSigning: "v1"}, "Config.DynamicSigning"},
		{"negative threshold", emulator.Config{FailureThreshold: -1}, "Config.FailureThreshold is -1"},
		{"inverted backoff", emulator.Config{RetryBackoff: time.Second, RetryBackoffMax: time.Millisecond}, "Config.RetryBackoffMax"},
		{"backoff over the default cap", emulator.Config{RetryBackoff: 2 * time.Hour}, "Config.RetryBackoffMax"},
		{"negative window", emulator.Config{RetryWindow: -time.Second}, "Config.RetryWindow"},
		{"negative attempt timeout", emulator.Config{AttemptTimeout: -time.Second}, "Config.AttemptTimeout"},
		{"bad fault rate", emulator.Config{Faults: emulator.Faults{DuplicateRate: -1}}, "Config.Faults"},
		{"negative fault count", emulator.Config{Faults: emulator.Faults{FailFirst: -1}}, "Config.Faults"},
		{"bad addr", emulator.Config{Addr: "256.0.0.1:0"}, "256.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := emulator.NewServer(&tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("NewServer accepted a bad Config")
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not name %q", err, tc.mention)
			}
		})
	}

	// nil and a zero Config are every default; NewServer copies the Config.
	cfg := &emulator.Config{}
	for _, c := range []*emulator.Config{nil, cfg} {
		s, err := emulator.NewServer(c)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || !strings.HasPrefix(s.APIKey, "emu-") {
			t.Errorf("defaults: URL %q, key %q", s.URL, s.APIKey)
		}
	}
	if cfg.Addr != "" || cfg.APIKey != "" || cfg.TimeScale != 0 || cfg.Logger != nil || cfg.Now != nil {
		t.Errorf("NewServer changed the caller's Config: %+v", cfg)
	}

	s, err := emulator.NewServer(&emulator.Config{Addr: "0.0.0.0:0", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || s.APIKey != "k" || s.JWKSURL() != s.URL+"/.well-known/jwks.json" {
		t.Fatalf("URL %q, key %q, JWKS %q", s.URL, s.APIKey, s.JWKSURL())
	}
	if code, _ := call(t, s, http.MethodGet, "/v1beta/webhooks", ""); code != http.StatusOK {
		t.Fatalf("list on a wildcard listener: %d", code)
	}
}

// TestVersions checks the API versions each route answers on: WebhookService
// on v1beta only, jobs on v1, v1beta and v1alpha, so that a genai client on
// its v1 default gets the real API's 404 for webhooks and works for jobs.
func TestVersions(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true})
	gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey: s.APIKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.URL, APIVersion: "v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = gc.Webhooks.List(t.Context(), operations.ListWebhooksRequest{})
	var apiErr *apierrors.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("genai Webhooks.List on v1 = %v; want a 404", err)
	}
	for _, version := range []string{"v1", "v1beta", "v1alpha"} {
		job, err := gc.Batches.Create(t.Context(), "gemini-2.5-flash",
			&genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}}},
			&genai.CreateBatchJobConfig{HTTPOptions: &genai.HTTPOptions{APIVersion: version}})
		if err != nil || !strings.HasPrefix(job.Name, "batches/") {
			t.Errorf("batch on %s: %+v, %v", version, job, err)
		}
		code, b := call(t, s, http.MethodPost, "/"+version+"/interactions", `{"model":"gemini-2.5-flash","input":"hi"}`)
		if code != http.StatusOK {
			t.Errorf("interaction on %s: %d %s", version, code, b)
		}
	}
}

// TestDeliveryIDs checks that webhook-id has the live form: "msg_" and a
// version 4 UUID, fresh for each event.
func TestDeliveryIDs(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true})
	rcv := newReceiver(t, 2)
	createWebhook(t, s, rcv.URL, "batch.succeeded")
	uuid := regexp.MustCompile(`^msg_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 2 {
		code, b := call(t, s, http.MethodPost, "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
			`{"batch":{"input_config":{"requests":{"requests":[{"request":{}}]}}}}`)
		var job struct{ Name string }
		if code != http.StatusOK || json.Unmarshal(b, &job) != nil {
			t.Fatalf("create batch: %d %s", code, b)
		}
		if err := s.Finish(job.Name, "succeeded"); err != nil {
			t.Fatal(err)
		}
		id := rcv.next(t).header.Get("webhook-id")
		if !uuid.MatchString(id) || seen[id] {
			t.Errorf("webhook-id %q: want a fresh msg_ and UUID", id)
		}
		seen[id] = true
	}
}
