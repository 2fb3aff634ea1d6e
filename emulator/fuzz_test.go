package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/emulator"
)

// FuzzAPI sends arbitrary bodies to every endpoint that parses one. The
// emulator must answer 2xx with JSON or 4xx in the Google error shape, and
// never fail or panic.
func FuzzAPI(f *testing.F) {
	endpoint := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	f.Cleanup(endpoint.Close)
	s, err := emulator.NewServer(&emulator.Config{ManualJobs: true, InsecureAllowHTTPLoopback: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	var wh struct{ ID string }
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1beta/webhooks",
		strings.NewReader(`{"uri":"`+endpoint.URL+`","subscribed_events":["batch.succeeded"]}`))
	req.Header.Set("x-goog-api-key", s.APIKey)
	s.ServeHTTP(rec, req)
	if err := json.Unmarshal(rec.Body.Bytes(), &wh); err != nil || wh.ID == "" {
		f.Fatalf("create webhook: %s", rec.Body)
	}
	routes := []struct{ method, path string }{
		{http.MethodPost, "/v1beta/webhooks"},
		{http.MethodPatch, "/v1beta/webhooks/" + wh.ID + "?update_mask="},
		{http.MethodPost, "/v1beta/webhooks/" + wh.ID + ":rotateSigningSecret"},
		{http.MethodPost, "/v1beta/webhooks/" + wh.ID + ":ping"},
		{http.MethodPost, "/v1beta/models/gemini-2.5-flash:batchGenerateContent"},
		{http.MethodPost, "/v1beta/models/veo-3.0-generate-001:predictLongRunning"},
		{http.MethodPost, "/v1beta/interactions"},
	}
	seeds := []string{
		`{"uri":"https://a.example","subscribed_events":["batch.failed"],"name":"n"}`,
		`{"state":"enabled","uri":"https://b.example"}`,
		`{"revocation_behavior":"revoke_previous_secrets_immediately"}`,
		`{}`,
		`{"batch":{"display_name":"d","input_config":{"requests":{"requests":[{"request":{},"metadata":{"key":"k"}}]}},"webhook_config":{"uris":["https://a.example"],"user_metadata":{"a":[1,{"b":null}]}}}}`,
		`{"instances":[{"prompt":"p"}],"webhookConfig":{"uris":["https://a.example"],"userMetadata":{}}}`,
		`{"model":"gemini-2.5-flash","input":"hi","background":true,"webhook_config":{"uris":["https://a.example"]},"tools":[{"type":"function","name":"f"}]}`,
		`{"previous_interaction_id":"v1_x","model":"m","input":[{"type":"function_result","call_id":"c"}]}`,
		`null`, `[]`, `{"batch":null}`, `{"uri":1}`, "\xff", `{"subscribed_events":"batch.failed"}`,
	}
	for i, sd := range seeds {
		f.Add(uint8(i), sd, "name,state")
	}
	f.Fuzz(func(t *testing.T, route uint8, body, mask string) {
		r := routes[int(route)%len(routes)]
		path := r.path
		if strings.HasSuffix(path, "update_mask=") {
			path += url.QueryEscape(mask)
		}
		req := httptest.NewRequest(r.method, path, strings.NewReader(body))
		req.Header.Set("x-goog-api-key", s.APIKey)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("200 with invalid JSON: %q", rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var e apiErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != rec.Code || e.Error.Status == "" || e.Error.Message == "" {
				t.Fatalf("%d with a malformed error body: %q", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("%s %s: status %d: %s", r.method, r.path, rec.Code, rec.Body)
		}
	})
}
