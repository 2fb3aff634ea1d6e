package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinaryTriggerVerify makes a capture with the built binary's trigger
// and checks it, then a tampered copy, with its verify.
func TestBinaryTriggerVerify(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.http")
	r := runBin(t, time.Minute, nil, nil, "trigger", "batch.succeeded", "--to", "https://example.com/webhooks/gemini",
		"--secret", secret, "--user-metadata", "tenant=acme", "--output", good)
	if r.code != exitOK {
		t.Fatalf("trigger: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered.http")
	if err := os.WriteFile(tampered, bytes.Replace(raw, []byte(`"tenant":"acme"`), []byte(`"tenant":"evil"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"GEMINI_WEBHOOK_SECRET=" + secret}

	r = runBin(t, time.Minute, nil, env, "verify", good)
	if r.code != exitOK || !strings.Contains(r.stdout, "valid: v1 (HMAC-SHA256)") {
		t.Fatalf("verify good: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBin(t, time.Minute, bytes.NewReader(raw), env, "verify", "-")
	if r.code != exitOK {
		t.Fatalf("verify good from stdin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBin(t, time.Minute, nil, env, "verify", tampered)
	if r.code != exitVerifyNoMatch || !strings.Contains(r.stderr, "invalid: no matching signature") {
		t.Fatalf("verify tampered: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("verify printed the secret")
	}
}
