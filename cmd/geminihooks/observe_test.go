package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var consoleRE = regexp.MustCompile(`^  console: +(http://\S+)/\?token=(\S+)$`)

func httpGet(t *testing.T, url string, h http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestListenObservability: listen serves /metrics (read with the
// Prometheus text parser), /healthz and /readyz at its address, and with
// --console the console at another, behind the token it prints once.
func TestListenObservability(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	l := startListen(t, "--inbox", "memory", "--secret", secret, "--no-dynamic", "--console", "127.0.0.1:0")
	m, _ := l.stderr.wait(t, consoleRE, 0, 10*time.Second)
	consoleURL, token := m[1], m[2]
	base := strings.TrimSuffix(l.url, "/webhooks/gemini")

	if code, out, errs := runCLI(t, nil, "trigger", "batch.succeeded", "--to", l.url, "--secret", secret, "--id", "wh_obs_1"); code != exitOK {
		t.Fatalf("trigger: exit %d\n%s%s", code, out, errs)
	}
	if code, _, _ := runCLI(t, nil, "trigger", "batch.succeeded", "--to", l.url, "--secret", testSecret(t), "--id", "wh_obs_forged"); code != exitFailure {
		t.Fatalf("forged trigger: exit %d, want %d", code, exitFailure)
	}
	l.stdout.wait(t, regexp.MustCompile(`webhook-id wh_obs_1`), 0, 10*time.Second)

	code, body := httpGet(t, base+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	count := func(outcome string) float64 { // summed over schemes
		n := 0.0
		for _, m := range fams["geminihooks_deliveries_total"].GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "outcome" && lp.GetValue() == outcome {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return n
	}
	if got := [2]float64{count("stored"), count("bad_signature")}; got != [2]float64{1, 1} {
		t.Errorf("deliveries stored, bad_signature = %v; want [1 1]", got)
	}
	if _, ok := fams["geminihooks_inbox_messages"]; !ok {
		t.Error("/metrics lacks geminihooks_inbox_messages")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := httpGet(t, base+path, nil); code != http.StatusOK {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}

	if code, _ := httpGet(t, consoleURL+"/", nil); code != http.StatusUnauthorized {
		t.Errorf("console without the token: %d; want 401", code)
	}
	code, page := httpGet(t, consoleURL+"/", http.Header{"Authorization": {"Bearer " + token}})
	if code != http.StatusOK || !strings.Contains(page, "wh_obs_1") || !strings.Contains(page, "rejected: bad_signature") {
		t.Errorf("console with the token: %d, lists wh_obs_1 %v, the forgery %v", code, strings.Contains(page, "wh_obs_1"), strings.Contains(page, "rejected: bad_signature"))
	}
	if code := l.stop(); code != exitOK {
		t.Errorf("listen exit %d", code)
	}
	if strings.Contains(l.stderr.String()+l.stdout.String(), secret) {
		t.Error("listen printed the secret")
	}
}

func TestConsoleListenAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"8081":         "127.0.0.1:8081",
		":8081":        "127.0.0.1:8081",
		"0.0.0.0:8081": "0.0.0.0:8081",
		"127.0.0.1:0":  "127.0.0.1:0",
		"[::1]:8081":   "[::1]:8081",
	} {
		if got := consoleListenAddr(in); got != want {
			t.Errorf("consoleListenAddr(%q) = %q; want %q", in, got, want)
		}
	}
}

// /readyz is 503, with the reason, while dynamic signatures are on and no
// JWKS could be had; /healthz still answers.
func TestListenNotReadyWithoutKeys(t *testing.T) {
	t.Parallel()
	l := startListen(t, "--inbox", "memory", "--secret", testSecret(t), "--jwks-url", "http://127.0.0.1:1/jwks.json")
	base := strings.TrimSuffix(l.url, "/webhooks/gemini")
	if code, body := httpGet(t, base+"/readyz", nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "keys:") {
		t.Errorf("/readyz without keys: %d %q; want 503 naming the keys", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
}
