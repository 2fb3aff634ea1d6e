package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

var (
	emulatorRE = regexp.MustCompile(`^emulator listening on (http://\S+)$`)
	apiKeyRE   = regexp.MustCompile(`^  API key: +(\S+)$`)
)

// TestBinaryWebhooksAgainstEmulator runs `geminihooks emulator` and drives
// every `webhooks` subcommand against it through the built binary.
func TestBinaryWebhooksAgainstEmulator(t *testing.T) {
	t.Parallel()
	emu := startBin(t, nil, "emulator", "--addr", "127.0.0.1:0", "--api-key", "test-key")
	m, _ := emu.stdout.wait(t, emulatorRE, 0, time.Minute)
	base := m[1]
	if m, _ := emu.stdout.wait(t, apiKeyRE, 0, time.Minute); m[1] != "test-key" {
		t.Errorf("emulator banner shows API key %q, want test-key", m[1])
	}
	env := []string{"GEMINI_API_KEY=test-key"}
	wh := func(wantCode int, args ...string) binResult {
		t.Helper()
		r := runBin(t, time.Minute, nil, env, append([]string{"webhooks"}, append(args, "--base-url", base)...)...)
		if r.code != wantCode {
			t.Fatalf("webhooks %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
		}
		return r
	}
	decode := func(r binResult, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
	}
	rec := newRecorder(t, http.StatusNoContent)

	r := wh(exitOK, "create", "--uri", rec.srv.URL+"/hook", "--event", "batch.succeeded,video.generated", "--name", "cli-test", "--json")
	var created webhookJSON
	decode(r, &created)
	if created.ID == "" || !strings.HasPrefix(created.NewSigningSecret, "whsec_") || created.State != "enabled" {
		t.Fatalf("created: %+v", created)
	}
	if !strings.Contains(r.stderr, "Store the signing secret now") {
		t.Errorf("create does not tell the user to store the secret:\n%s", r.stderr)
	}
	id, secret := created.ID, created.NewSigningSecret

	r = wh(exitOK, "list")
	if !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "cli-test") || strings.Contains(r.stdout, secret) {
		t.Errorf("list:\n%s", r.stdout)
	}
	var got []webhookJSON
	decode(wh(exitOK, "get", id, "--json"), &got)
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("get: %+v", got)
	}
	if diff := cmp.Diff([]event.Type{event.TypeBatchSucceeded, event.TypeVideoGenerated}, got[0].SubscribedEvents); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	decode(wh(exitOK, "update", id, "--name", "renamed", "--event", "batch.failed", "--json"), &got)
	if got[0].Name != "renamed" || len(got[0].SubscribedEvents) != 1 || got[0].SubscribedEvents[0] != event.TypeBatchFailed {
		t.Errorf("update: %+v", got[0])
	}
	decode(wh(exitOK, "disable", id, "--json"), &got)
	if got[0].State != "disabled" {
		t.Errorf("disable: state %q", got[0].State)
	}
	decode(wh(exitOK, "enable", id, "--json"), &got)
	if got[0].State != "enabled" {
		t.Errorf("enable: state %q", got[0].State)
	}

	r = wh(exitOK, "rotate", id, "--json")
	var rotated webhookJSON
	decode(r, &rotated)
	if !strings.HasPrefix(rotated.NewSigningSecret, "whsec_") || rotated.NewSigningSecret == secret || len(rotated.SigningSecrets) != 2 {
		t.Fatalf("rotate: %+v", rotated)
	}
	if !strings.Contains(r.stderr, "keep verifying for 24 hours") {
		t.Errorf("rotate stderr:\n%s", r.stderr)
	}

	// A ping in the rotation grace is signed with both secrets.
	wh(exitOK, "ping", id)
	ping := rec.wait(t, 1, time.Minute)[0]
	for _, s := range []string{secret, rotated.NewSigningSecret} {
		v, err := signing.NewVerifier(&signing.Config{Secrets: []string{s}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), ping.header, ping.body); err != nil {
			t.Errorf("ping does not verify with one of the live secrets: %v", err)
		}
	}

	wh(exitOK, "delete", id)
	r = wh(exitFailure, "get", id)
	if !strings.Contains(r.stderr, "404") {
		t.Errorf("get after delete:\n%s", r.stderr)
	}
	r = runBin(t, time.Minute, nil, []string{"GEMINI_API_KEY=wrong"}, "webhooks", "list", "--base-url", base)
	if r.code != exitFailure || strings.Contains(r.stderr, "wrong") {
		t.Errorf("wrong key: exit %d\n%s", r.code, r.stderr)
	}

	if code := emu.stop(time.Minute); code != exitOK {
		t.Errorf("emulator exit %d\n%s", code, emu.stderr)
	}
}
