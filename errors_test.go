package geminihooks

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
)

const (
	notFoundJSON = `{"error":{"code":404,"message":"Webhook not found.","status":"NOT_FOUND"}}`
	invalidJSON  = `{"error":{"code":400,"message":"Invalid value at 'webhook.uri'","status":"INVALID_ARGUMENT",
		"details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"webhook.uri","description":"must be https"}]}]}}`
	rateLimitedJSON = `{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED"}}`
	deniedJSON      = `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`
)

var invalidDetails = []map[string]any{{
	"@type":           "type.googleapis.com/google.rpc.BadRequest",
	"fieldViolations": []any{map[string]any{"field": "webhook.uri", "description": "must be https"}},
}}

// TestErrorPaths drives every error class through each of the three ways a
// request leaves this package: its own WebhookService calls, genai's core
// (Batches) and genai's generated Interactions package.
func TestErrorPaths(t *testing.T) {
	t.Parallel()
	classes := []struct {
		name     string
		status   int
		body     string
		sentinel error // nil: the status code tells it
		want     *APIError
	}{
		{"404", 404, notFoundJSON, ErrNotFound, &APIError{StatusCode: 404, Status: "NOT_FOUND", Message: "Webhook not found."}},
		{"400 with details", 400, invalidJSON, ErrInvalidArgument, &APIError{StatusCode: 400, Status: "INVALID_ARGUMENT", Message: "Invalid value at 'webhook.uri'", Details: invalidDetails}},
		{"429", 429, rateLimitedJSON, nil, &APIError{StatusCode: 429, Status: "RESOURCE_EXHAUSTED", Message: "Quota exceeded."}},
		{"403", 403, deniedJSON, nil, &APIError{StatusCode: 403, Status: "PERMISSION_DENIED", Message: "The caller does not have permission"}},
	}
	sentinels := []error{ErrNotFound, ErrInvalidArgument}
	calls := []struct {
		name string
		call func(*Client) error
	}{
		{"webhooks", func(c *Client) error { _, err := c.Webhooks.Get(context.Background(), "w1"); return err }},
		{"batches", func(c *Client) error {
			_, err := c.Batches.Create(context.Background(), "models/m", &genai.BatchJobSource{FileName: "files/in"}, nil, nil)
			return err
		}},
		{"interactions", func(c *Client) error {
			_, err := c.Interactions.Create(context.Background(), InteractionRequest{Model: "m"}, nil)
			return err
		}},
	}
	for _, cl := range classes {
		for _, call := range calls {
			t.Run(cl.name+"/"+call.name, func(t *testing.T) {
				t.Parallel()
				h := func(w http.ResponseWriter, r *http.Request) {
					// Lets genai's generated client retry a 429 at once instead of backing off.
					w.Header().Set("retry-after-ms", "1")
					reply(cl.status, cl.body)(w, r)
				}
				c, _ := setup(t, map[string]http.HandlerFunc{"/": h})
				err := call.call(c)
				var got *APIError
				if !errors.As(err, &got) {
					t.Fatalf("error %v (%T) is not an *APIError", err, err)
				}
				if d := cmp.Diff(cl.want, got); d != "" {
					t.Errorf("APIError (-want +got):\n%s", d)
				}
				for _, s := range sentinels {
					if errors.Is(err, s) != (s == cl.sentinel) {
						t.Errorf("errors.Is(err, %v) = %v", s, !(s == cl.sentinel))
					}
				}
			})
		}
	}
}

// TestErrorInteractionsStringCode covers the Interactions API's error shape,
// whose code is a string.
func TestErrorInteractionsStringCode(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/interactions": reply(400, `{"error":{"code":"invalid_request","message":"background is required"}}`),
	})
	_, err := c.Interactions.Create(context.Background(), InteractionRequest{Model: "m"}, nil)
	var got *APIError
	if !errors.As(err, &got) {
		t.Fatalf("error %v is not an *APIError", err)
	}
	want := &APIError{StatusCode: 400, Status: "invalid_request", Message: "background is required"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("APIError (-want +got):\n%s", d)
	}
	if !errors.Is(err, ErrInvalidArgument) {
		t.Error("a 400 does not match ErrInvalidArgument")
	}
}

func TestErrorNetworkFailure(t *testing.T) {
	t.Parallel()
	// A listener closed before use: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, "http://"+addr, testAPIKey, nil)
	ctx := context.Background()
	errs := map[string]error{}
	_, errs["webhooks"] = c.Webhooks.List(ctx, nil)
	_, errs["batches"] = c.Batches.Create(ctx, "models/m", &genai.BatchJobSource{FileName: "files/in"}, nil, nil)
	for name, err := range errs {
		if err == nil {
			t.Fatalf("%s: no error from a refused connection", name)
		}
		var api *APIError
		if errors.As(err, &api) {
			t.Errorf("%s: a network failure became an APIError: %v", name, err)
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			t.Errorf("%s: error %v does not keep its *net.OpError", name, err)
		}
		if !strings.HasPrefix(err.Error(), "geminihooks: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
		if strings.Contains(err.Error(), testAPIKey) {
			t.Errorf("%s: error contains the API key", name)
		}
	}
	var ue *url.Error
	if !errors.As(errs["webhooks"], &ue) {
		t.Errorf("webhooks: error does not keep its *url.Error")
	}
}

func TestErrorRedaction(t *testing.T) {
	t.Parallel()
	body := `{"error":{"code":400,"message":"bad key ` + testAPIKey + ` and secret whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTIzNA==","status":"INVALID_ARGUMENT",
	"details":[{"reason":"API_KEY_INVALID","metadata":{"key":"` + testAPIKey + `"}}]}}`
	c, _ := setup(t, map[string]http.HandlerFunc{"/": reply(400, body)})
	ctx := context.Background()
	_, err1 := c.Webhooks.Get(ctx, "w1")
	_, err2 := c.Batches.Create(ctx, "models/m", &genai.BatchJobSource{FileName: "files/in"}, nil, nil)
	for _, err := range []error{err1, err2} {
		var api *APIError
		if !errors.As(err, &api) {
			t.Fatalf("error %v is not an *APIError", err)
		}
		details, _ := json.Marshal(api.Details)
		all := err.Error() + " " + api.Message + " " + string(details)
		if len(api.Details) == 0 {
			t.Error("details dropped")
		}
		if strings.Contains(all, testAPIKey) || strings.Contains(all, "c2VjcmV0c2Vj") {
			t.Errorf("error leaks a secret: %s", all)
		}
		if !strings.Contains(api.Message, "whsec_[redacted]") {
			t.Errorf("message %q lost its redaction marker", api.Message)
		}
	}
}

// A secret or key written with JSON escapes must not come back whole once
// the body is decoded.
func TestErrorRedactionSurvivesJSONEscapes(t *testing.T) {
	t.Parallel()
	escapedKey := `\u0041` + testAPIKey[1:]
	body := `{"error":{"code":400,"status":"INVALID_ARGUMENT",
	"message":"key ` + escapedKey + ` secret whsec_ab\/cdefghijklmnopqrstuvwxyz0123456789AB==",
	"details":[{"metadata":{"key":"` + escapedKey + `","secret":"whsec_ab\/cdefghijklmnopqrstuvwxyz0123456789AB=="}}]}}`
	c, _ := setup(t, map[string]http.HandlerFunc{"/": reply(400, body)})
	_, err := c.Webhooks.Get(context.Background(), "w1")
	var api *APIError
	if !errors.As(err, &api) {
		t.Fatalf("error %v is not an *APIError", err)
	}
	if len(api.Details) == 0 {
		t.Error("details dropped")
	}
	details, _ := json.Marshal(api.Details)
	all := err.Error() + " " + api.Message + " " + string(details)
	if strings.Contains(all, testAPIKey) || strings.Contains(all, "cdefghijklmnop") {
		t.Errorf("error leaks a secret: %s", all)
	}
}

func TestParseAPIErrorNonJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
		want   *APIError
	}{
		{502, "<html>Bad Gateway</html>", &APIError{StatusCode: 502, Message: "<html>Bad Gateway</html>"}},
		{500, "", &APIError{StatusCode: 500}},
		{503, `{"unexpected":true}`, &APIError{StatusCode: 503, Message: `{"unexpected":true}`}},
		{404, `{"error":{"code":"404","message":"m"}}`, &APIError{StatusCode: 404, Status: "404", Message: "m"}},
		{0, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`, &APIError{StatusCode: 429, Status: "RESOURCE_EXHAUSTED"}},
	}
	for _, tt := range tests {
		got := parseAPIError(tt.status, []byte(tt.body), testAPIKey)
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("parseAPIError(%d, %q) (-want +got):\n%s", tt.status, tt.body, d)
		}
	}
	long := parseAPIError(500, []byte(strings.Repeat("x", 4096)), "")
	if len(long.Message) > maxMessageBytes+3 {
		t.Errorf("message of %d bytes not truncated", len(long.Message))
	}
}

func TestGenAIStatusLineError(t *testing.T) {
	t.Parallel()
	// genai's own conversion of a non-JSON answer: status line in Status.
	got := fromGenAI(genai.APIError{Code: 503, Status: "503 Service Unavailable", Message: "upstream down"}, "")
	want := &APIError{StatusCode: 503, Message: "upstream down"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestRedactOnlyTheKey: a short key (an emulator's --api-key k) is redacted
// where it stands alone, never inside other words, and never breaks the JSON
// it appears in; a long one goes wherever it appears.
func TestRedactOnlyTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, body string
		want            *APIError
	}{
		{"k inside words", "k", `{"error":{"code":404,"message":"Webhook \"nope\" not found","status":"NOT_FOUND"}}`,
			&APIError{StatusCode: 404, Status: "NOT_FOUND", Message: `Webhook "nope" not found`}},
		{"o in the JSON's syntax", "o", `{"error":{"code":404,"message":"Webhook \"nope\" not found","status":"NOT_FOUND",
			"details":[{"reason":"o","metadata":{"o":"no o"}}]}}`,
			&APIError{StatusCode: 404, Status: "NOT_FOUND", Message: `Webhook "nope" not found`,
				Details: []map[string]any{{"reason": "[redacted]", "metadata": map[string]any{"[redacted]": "no [redacted]"}}}}},
		{"k standing alone", "k", `{"error":{"code":400,"message":"API key k (k) is invalid: key=k","status":"INVALID_ARGUMENT"}}`,
			&APIError{StatusCode: 400, Status: "INVALID_ARGUMENT", Message: "API key [redacted] ([redacted]) is invalid: key=[redacted]"}},
		{"o in plain text", "o", "no route to host\n",
			&APIError{StatusCode: 502, Message: "no route to host"}},
		{"long key inside a word", testAPIKey, `{"error":{"code":400,"message":"key=` + testAPIKey + `x and x` + testAPIKey + `"}}`,
			&APIError{StatusCode: 400, Message: "key=[redacted]x and x[redacted]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := tt.want.StatusCode
			got := parseAPIError(status, []byte(tt.body), tt.key)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("parseAPIError (-want +got):\n%s", d)
			}
		})
	}
}

// hasKeyToken reports whether key occurs in s as a whole token, which is
// what redact must remove for a key shorter than minAnywhereKeyLen.
func hasKeyToken(s, key string) bool {
	return strings.Count(redactToken(s, key), "[redacted]") > strings.Count(s, "[redacted]")
}

func FuzzParseAPIError(f *testing.F) {
	for _, s := range []string{notFoundJSON, invalidJSON, rateLimitedJSON, "", "null", `{"error":null}`, `{"error":{"code":"x"}}`,
		`{"error":{"code":1e400}}`, "<html>", `{"error":{"details":[1,2]}}`, `{"error":{"message":"` + testAPIKey + `"}}`,
		`{"error":{"code":404,"message":"Webhook \"nope\" not found","status":"NOT_FOUND"}}`, `{"error":{"message":"k o k-o"}}`} {
		for _, key := range []uint8{0, 1, 2} {
			f.Add(400, []byte(s), key)
		}
	}
	keys := []string{testAPIKey, "k", "o"}
	f.Fuzz(func(t *testing.T, status int, body []byte, keyIdx uint8) {
		key := keys[int(keyIdx)%len(keys)]
		e := parseAPIError(status, body, key)
		if e == nil {
			t.Fatal("nil error")
		}
		details, _ := json.Marshal(e.Details)
		for _, s := range []string{e.Error(), string(details)} {
			if len(key) >= minAnywhereKeyLen && strings.Contains(s, key) {
				t.Errorf("API key in %q", s)
			}
			if hasKeyToken(s, key) {
				t.Errorf("API key %q standing alone in %q", key, s)
			}
		}
		if status != 0 && e.StatusCode != status {
			t.Errorf("StatusCode %d, want the HTTP status %d", e.StatusCode, status)
		}
		// Redaction must not change how the body parses.
		plain := parseAPIError(status, body, "")
		if e.StatusCode != plain.StatusCode || len(e.Details) != len(plain.Details) || (e.Status == "") != (plain.Status == "") {
			t.Errorf("with key %q: %+v; without a key: %+v", key, e, plain)
		}
	})
}
