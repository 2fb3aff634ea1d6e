package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/emulator"
	"google.golang.org/genai"
)

// newServer starts an emulator configured by cfg (nil: the defaults) that
// also delivers to http loopback receivers, and closes it when the test
// ends.
func newServer(t *testing.T, cfg *emulator.Config) *emulator.Server {
	t.Helper()
	var c emulator.Config
	if cfg != nil {
		c = *cfg
	}
	c.InsecureAllowHTTPLoopback = true
	s, err := emulator.NewServer(&c)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// newClient returns the unmodified genai client for s, on v1beta, where WebhookService is
// served (genai v1.78 and later default to v1).
func newClient(t *testing.T, s *emulator.Server) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey:      s.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.URL, APIVersion: "v1beta"},
	})
	if err != nil {
		t.Fatalf("genai.NewClient: %v", err)
	}
	return c
}

// received is one delivery as an endpoint saw it.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that records every delivery on a channel
// and answers with a settable status code.
type receiver struct {
	*httptest.Server
	got    chan received
	status atomic.Int32
}

func newReceiver(t *testing.T, buffer int) *receiver {
	t.Helper()
	r := &receiver{got: make(chan received, buffer)}
	r.status.Store(http.StatusNoContent)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return // a cut connection: the sender sees the failure
		}
		code := int(r.status.Load())
		select {
		case r.got <- received{req.Header.Clone(), body}:
		default:
			t.Errorf("receiver buffer full")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

// next waits for the next delivery.
func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case d := <-r.got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
		return received{}
	}
}

// none asserts that nothing more has been delivered. Call it after Idle.
func (r *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case d := <-r.got:
		t.Fatalf("unexpected delivery: %s", d.body)
	default:
	}
}

func idle(t *testing.T, s *emulator.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.Idle(ctx); err != nil {
		t.Fatalf("Idle: %v", err)
	}
}

func signatures(h http.Header) []string { return strings.Fields(h.Get("webhook-signature")) }

func newServerNoLoopback(t *testing.T, cfg *emulator.Config) (*emulator.Server, error) {
	t.Helper()
	s, err := emulator.NewServer(cfg)
	if err == nil {
		t.Cleanup(s.Close)
	}
	return s, err
}

// apiClient keeps enough idle connections for the concurrent tests, so
// they do not churn through ephemeral ports.
var apiClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// call makes a raw API call with the server's key and returns the status and
// body.
func call(t testing.TB, s *emulator.Server, method, path, body string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", s.APIKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// createWebhook registers uri for events over raw HTTP and returns the id
// and secret.
func createWebhook(t *testing.T, s *emulator.Server, uri string, events ...string) (id, secret string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"uri": uri, "subscribed_events": events})
	code, b := call(t, s, http.MethodPost, "/v1beta/webhooks", string(body))
	var wh struct {
		ID     string `json:"id"`
		Secret string `json:"new_signing_secret"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &wh) != nil {
		t.Fatalf("create webhook: %d %s", code, b)
	}
	return wh.ID, wh.Secret
}

// createBatch starts a one-request batch over raw HTTP and returns its name.
// webhookConfig, when not empty, is the batch's webhook_config JSON.
func createBatch(t testing.TB, s *emulator.Server, webhookConfig string, header ...string) string {
	t.Helper()
	body := `{"batch":{"display_name":"t","input_config":{"requests":{"requests":[{"request":{"contents":[{"parts":[{"text":"hi"}]}]}}]}}`
	if webhookConfig != "" {
		body += `,"webhook_config":` + webhookConfig
	}
	body += `}}`
	code, b := call(t, s, http.MethodPost, "/v1beta/models/gemini-2.5-flash:batchGenerateContent", body, header...)
	var op struct {
		Name string `json:"name"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &op) != nil {
		t.Fatalf("create batch: %d %s", code, b)
	}
	return op.Name
}

// generateVideo starts a video through genai's GenerateVideos where the
// genai in use still sends it on the Gemini API (v1.77), and otherwise
// (v1.78 and later refuse) as the REST call genai used to make, camelCase
// webhookConfig included.
func generateVideo(t *testing.T, s *emulator.Server, c *genai.Client, model, prompt string, cfg *genai.GenerateVideosConfig) *genai.GenerateVideosOperation {
	t.Helper()
	op, err := c.Models.GenerateVideos(t.Context(), model, prompt, nil, cfg)
	if err == nil {
		return op
	}
	if !strings.Contains(err.Error(), "only supported in") {
		t.Fatalf("GenerateVideos: %v", err)
	}
	body := map[string]any{"instances": []any{map[string]any{"prompt": prompt}}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/v1beta/models/"+model+":predictLongRunning", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		if cfg.WebhookConfig != nil {
			body["webhookConfig"] = cfg.WebhookConfig
		}
		if cfg.HTTPOptions != nil {
			req.Header = cfg.HTTPOptions.Headers.Clone()
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.Header.Set("x-goog-api-key", s.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	op = &genai.GenerateVideosOperation{}
	if err := json.NewDecoder(resp.Body).Decode(op); err != nil || resp.StatusCode != http.StatusOK || op.Name == "" {
		t.Fatalf("predictLongRunning: %s, %+v, %v", resp.Status, op, err)
	}
	return op
}
