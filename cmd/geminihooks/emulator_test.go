package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEmulatorFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--time-scale", "0"}, "--time-scale must be positive"},
		{[]string{"--duplicate-rate", "1.5"}, "--duplicate-rate must be between 0 and 1"},
		{[]string{"--duplicate-rate", "NaN"}, "--duplicate-rate must be between 0 and 1"},
		{[]string{"--fail-first", "-1"}, "must not be negative"},
		{[]string{"--fail-next", "-1"}, "must not be negative"},
		{[]string{"--failure-threshold", "0"}, "--failure-threshold must be at least 1"},
		{[]string{"--dynamic-signing", "hs256"}, "--dynamic-signing must be v1a or jwt"},
		{[]string{"--retry-window", "0s"}, "--retry-window must be positive"},
		{[]string{"--running", "-1s"}, "must not be negative"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		code, _, errs := runCLI(t, nil, append([]string{"emulator", "--addr", "127.0.0.1:0"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errs, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errs, tt.want)
		}
	}
	code, _, errs := runCLI(t, nil, "emulator", "--addr", "256.0.0.1:0")
	if code != exitFailure || errs == "" {
		t.Errorf("unusable address: exit %d, stderr %q", code, errs)
	}
}

// TestEmulatorInProcess starts the emulator command with faults on, reads
// its banner, checks that the API key it prints is the one it requires,
// and stops it as Ctrl-C would.
func TestEmulatorInProcess(t *testing.T) {
	t.Parallel()
	outR, outW := io.Pipe()
	stdout := newLines(outR)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runEnv(ctx, &env{stdout: outW, stderr: io.Discard, getenv: func(string) string { return "" }, now: time.Now},
			[]string{"emulator", "--addr", "127.0.0.1:0", "--fail-first", "1", "--fail-next", "2", "--duplicate-rate", "0.5", "--dynamic-signing", "jwt"})
		outW.Close()
	}()
	m, _ := stdout.wait(t, emulatorRE, 0, 30*time.Second)
	base := m[1]
	m, _ = stdout.wait(t, apiKeyRE, 0, 30*time.Second)
	key := m[1]
	stdout.wait(t, regexp.MustCompile(`^Press Ctrl-C to stop\.$`), 0, 30*time.Second)

	get := func(key string) int {
		req, err := http.NewRequest(http.MethodGet, base+"/v1beta/webhooks", nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("x-goog-api-key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("answer is not JSON: %v", err)
		}
		return resp.StatusCode
	}
	if code := get(key); code != http.StatusOK {
		t.Errorf("with the printed key: %d", code)
	}
	if code := get(""); code == http.StatusOK {
		t.Errorf("without a key: %d, want an error", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("emulator did not stop")
	}
}
