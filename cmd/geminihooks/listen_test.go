package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/signing"
)

// TestListenInProcess runs listen in-process (so under the race detector
// with go test -race) with a pinned JWKS file, pretty output and a flaky
// forward target.
func TestListenInProcess(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	dir := t.TempDir()
	key, jwks := filepath.Join(dir, "key.pem"), filepath.Join(dir, "jwks.json")
	// Make the dynamic key and its JWKS before the listener starts.
	if code, out, errs := runCLI(t, nil, "trigger", "video.generated", "--to", "http://127.0.0.1:1/x", "--dynamic", "jwt",
		"--key", key, "--jwks-out", jwks, "--output", filepath.Join(dir, "unused.http")); code != exitOK {
		t.Fatalf("trigger: exit %d\n%s%s", code, out, errs)
	}
	app := newFlakyApp(t, "msg_flaky")

	l := startListen(t, "--inbox", "memory", "--secret", secret, "--jwks-file", jwks,
		"--forward-to", app.srv.URL, "--backoff", "10ms", "--path", "/hook")
	stdout, stderr, url := l.stdout, l.stderr, l.url
	if !strings.HasSuffix(url, "/hook") {
		t.Fatalf("listening on %s, want path /hook", url)
	}

	send := func(wantCode int, args ...string) {
		t.Helper()
		if code, out, errs := runCLI(t, nil, append([]string{"trigger", "--to", url}, args...)...); code != wantCode {
			t.Fatalf("trigger %q: exit %d, want %d\n%s%s", args, code, wantCode, out, errs)
		}
	}
	send(exitOK, "batch.succeeded", "--secret", secret, "--id", "msg_v1", "--user-metadata", "tenant=acme")
	send(exitOK, "video.generated", "--dynamic", "jwt", "--key", key, "--id", "msg_jwt")
	send(exitOK, "interaction.completed", "--secret", secret, "--id", "msg_flaky")
	send(exitOK, "interaction.completed", "--secret", secret, "--id", "msg_flaky") // duplicate
	send(exitFailure, "batch.failed", "--dynamic", "v1a", "--id", "msg_unknown_key")

	// Every request gets a line in one format, with its verdict: the
	// duplicate and the rejected one too.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`handled +batch\.succeeded +v1 +job batches/\S+ +\(webhook-id msg_v1\) +metadata tenant=acme +-> forwarded, 200$`),
		regexp.MustCompile(`handled +video\.generated +jwt +job models/\S+ +\(webhook-id msg_jwt\) +-> forwarded, 200$`),
		regexp.MustCompile(`duplicate +interaction\.completed +v1 +job v1_\S+ +\(webhook-id msg_flaky\) +200 already stored; handler not run again$`),
		regexp.MustCompile(`rejected +- +- +job - +\(webhook-id msg_unknown_key\) +401 bad_signature: .*no matching signature$`),
		regexp.MustCompile(`handled +interaction\.completed +v1 +job v1_\S+ +\(webhook-id msg_flaky, attempt 2\) +-> forwarded, 200$`),
	} {
		stdout.wait(t, re, 0, 30*time.Second)
	}
	stderr.wait(t, regexp.MustCompile(`forward of interaction\.completed \(webhook-id msg_flaky, attempt 1 of 8\) failed: .*503.*; will retry`), 0, time.Second)

	if code := l.stop(); code != exitOK {
		t.Errorf("listen exit %d\n%s", code, stderr)
	}
	if n := len(strings.Split(strings.TrimSpace(stdout.String()), "\n")); n != 5 {
		t.Errorf("%d lines, want 5 (3 handled, 1 duplicate, 1 rejected):\n%s", n, stdout)
	}
	m, _ := stderr.wait(t, stoppedRE, 0, time.Second)
	if !strings.HasPrefix(m[1], "5 received, 3 stored, 1 duplicate, 1 rejected (1 unauthorized), 3 handled, 1 retried") {
		t.Errorf("summary: %s", m[1])
	}
	if strings.Contains(stdout.String()+stderr.String(), secret) {
		t.Error("listen printed the secret")
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	for _, r := range app.got {
		if r.header.Get(signing.HeaderSignature) == "" {
			t.Errorf("forward of %s lost its signature header", r.header.Get(signing.HeaderID))
		}
	}
}

// TestListenForwardGivesUp: an app that never answers 2xx gets the event
// --attempts times, then the event is dead-lettered and said so.
func TestListenForwardGivesUp(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	app := newRecorder(t, http.StatusInternalServerError)
	l := startListen(t, "--inbox", "memory", "--secret", secret, "--no-dynamic",
		"--forward-to", app.srv.URL, "--attempts", "2", "--backoff", "1ms", "--json")
	if code, out, errs := runCLI(t, nil, "trigger", "batch.expired", "--to", l.url, "--secret", secret, "--id", "msg_doomed"); code != exitOK {
		t.Fatalf("trigger: exit %d\n%s%s", code, out, errs)
	}
	l.stderr.wait(t, regexp.MustCompile(`attempt 1 of 2\) failed: .*500.*; will retry$`), 0, 30*time.Second)
	l.stderr.wait(t, regexp.MustCompile(`attempt 2 of 2\) failed: .*500.*; giving up: the event is dead-lettered in the inbox$`), 0, 30*time.Second)
	app.wait(t, 2, time.Second)
	if code := l.stop(); code != exitOK {
		t.Errorf("exit %d", code)
	}
	m, _ := l.stderr.wait(t, stoppedRE, 0, time.Second)
	if !strings.Contains(m[1], "0 handled, 1 retried, 1 dead-lettered") {
		t.Errorf("summary: %s", m[1])
	}
	// The dead letter gets a line of its own on stdout, never a handled one.
	m, _ = l.stdout.wait(t, jsonLineRE, 0, time.Second)
	var ln eventLine
	if err := json.Unmarshal([]byte(m[0]), &ln); err != nil {
		t.Fatal(err)
	}
	if ln.Verdict != verdictDead || ln.WebhookID != "msg_doomed" || ln.Attempt != 2 ||
		!strings.Contains(ln.Reason, "500") || !strings.Contains(ln.Reason, "geminihooks inbox replay msg_doomed") {
		t.Errorf("dead-letter line: %+v", ln)
	}
	if n := len(strings.Split(strings.TrimSpace(l.stdout.String()), "\n")); n != 1 {
		t.Errorf("%d lines, want the dead letter's only:\n%s", n, l.stdout)
	}
}

// inProcessListen is `geminihooks listen` running in a goroutine.
type inProcessListen struct {
	stdout, stderr *lines
	url            string
	stop           func() int
}

// startListen runs listen in-process on a free loopback port and waits
// until it is listening.
func startListen(t *testing.T, args ...string) *inProcessListen {
	t.Helper()
	return startListenUntil(t, listeningRE, args...)
}

// startListenUntil is startListen waiting for the stderr line that
// matches listening, whose first group is the URL.
func startListenUntil(t *testing.T, listening *regexp.Regexp, args ...string) *inProcessListen {
	t.Helper()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	l := &inProcessListen{stdout: newLines(outR), stderr: newLines(errR)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code := runEnv(ctx, &env{stdin: strings.NewReader(""), stdout: outW, stderr: errW, now: time.Now,
			getenv: func(string) string { return "" }},
			append([]string{"listen", "--addr", "127.0.0.1:0"}, args...))
		outW.Close()
		errW.Close()
		done <- code
	}()
	stopped := false
	l.stop = func() int {
		t.Helper()
		cancel()
		select {
		case code := <-done:
			stopped = true
			l.stdout.waitClosed()
			l.stderr.waitClosed()
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("listen did not stop within 30s")
			return -1
		}
	}
	t.Cleanup(func() {
		if !stopped {
			l.stop()
		}
	})
	m, _ := l.stderr.wait(t, listening, 0, 30*time.Second)
	l.url = m[1]
	return l
}

// TestListenAudience: with --audience, a JWT made for another endpoint is
// refused and one made for this endpoint is accepted.
func TestListenAudience(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, jwks := filepath.Join(dir, "key.pem"), filepath.Join(dir, "jwks.json")
	const aud = "https://hooks.example.com/gemini"
	if code, out, errs := runCLI(t, nil, "trigger", "batch.expired", "--to", aud, "--dynamic", "jwt",
		"--key", key, "--jwks-out", jwks, "--output", filepath.Join(dir, "for-aud.http")); code != exitOK {
		t.Fatalf("trigger: exit %d\n%s%s", code, out, errs)
	}
	l := startListen(t, "--inbox", "memory", "--jwks-file", jwks, "--audience", aud)
	// Sent straight to the listener, so its JWT names the listener's own URL.
	if code, out, errs := runCLI(t, nil, "trigger", "batch.expired", "--to", l.url, "--dynamic", "jwt", "--key", key); code != exitFailure ||
		!strings.Contains(errs, "401") {
		t.Errorf("JWT for another audience: exit %d\n%s%s", code, out, errs)
	}
	capt, err := os.ReadFile(filepath.Join(dir, "for-aud.http"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := readCapture(bytes.NewReader(capt))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, l.url, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("JWT for %s: status %d, want 202", aud, resp.StatusCode)
	}
	l.stdout.wait(t, regexp.MustCompile(`batch\.expired +jwt `), 0, 30*time.Second)
}

func TestListenFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--no-dynamic"}, "nothing to verify with"},
		{[]string{"--secret", "whsec_AAAA", "--path", "hook"}, "--path must start with /"},
		{[]string{"--secret", "whsec_AAAA", "--workers", "0"}, "must be at least 1"},
		{[]string{"--secret", "whsec_AAAA", "--forward-to", "localhost:3000"}, "--forward-to must be an absolute"},
		{[]string{"--secret", "whsec_AAAA", "--jwks-file", "/does/not/exist"}, "--jwks-file"},
		{[]string{"--secret", "whsec_!", "--no-dynamic"}, "signing"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"--secret", "whsec_AAAA", "--max-conns", "0"}, "--max-conns must be at least 1"},
		{[]string{"--secret", "whsec_AAAA", "--read-timeout", "0s"}, "--read-timeout positive"},
		{[]string{"--jwks-file", "testdata/none.json", "--forward-to", "http://127.0.0.1:1/"}, "needs a secret to sign forwards"},
		{[]string{"--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--forward-to", "http://127.0.0.1:1/", "--forward-secret", "whsec_!"}, "--forward-secret"},
	}
	for _, tt := range tests {
		code, _, errs := runCLI(t, nil, append([]string{"listen", "--inbox", "memory", "--addr", "127.0.0.1:0"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errs, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errs, tt.want)
		}
	}
}
