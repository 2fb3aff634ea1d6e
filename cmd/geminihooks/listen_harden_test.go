package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// signedDelivery is a batch.succeeded delivery for id, signed with secret
// now, as Gemini would send it.
func signedDelivery(t *testing.T, to, secret, id string) *http.Request {
	t.Helper()
	now := time.Now()
	body, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/" + id, OutputFileURI: "files/out"}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := (signing.Signer{Secrets: []string{secret}}).Sign(req.Header, id, now, body); err != nil {
		t.Fatal(err)
	}
	return req
}

// send makes one request on a connection of its own and returns the
// response, its body read.
func send(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// trickle opens a connection to the URL and sends a POST whose headers
// promise a body that never comes, then returns the connection and a reader
// of its responses.
func trickle(t *testing.T, to string, header string) (net.Conn, *bufio.Reader) {
	t.Helper()
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: 100\r\n\r\n{\"type\":\"b", u.Path, u.Host, header)
	return conn, bufio.NewReader(conn)
}

// Item 1: with --forward-to, a body that never arrives still gets 408 after
// the listener's read timeout (10s by default): the forwarding path no
// longer hides the connection's deadline.
func TestListenForwardKeepsReadDeadline(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	app := newRecorder(t, http.StatusOK)
	l := startListen(t, "--inbox", "memory", "--secret", secret, "--no-dynamic", "--forward-to", app.srv.URL)
	conn, r := trickle(t, l.url, "")
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer to a body that never came: %v", err)
	}
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
	t.Logf("408 after %v (read timeout 10s)", took.Round(10*time.Millisecond))
}

// Item 2: a forged request with a genuine delivery's webhook-id, still being
// read when the genuine one arrives, lends none of its headers to the
// forward: the app gets only headers the listener wrote, signed afresh.
func TestListenForwardsOnlyVerified(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	app := newRecorder(t, http.StatusOK)
	l := startListen(t, "--inbox", "memory", "--secret", secret, "--no-dynamic", "--forward-to", app.srv.URL)

	trickle(t, l.url, "Authorization: Bearer attacker\r\nX-Attacker: yes\r\n"+
		signing.HeaderID+": msg_target\r\n"+signing.HeaderSignature+": v1,Zm9yZ2Vk\r\n")
	if resp := send(t, signedDelivery(t, l.url, secret, "msg_target")); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("genuine delivery: %d, want 202", resp.StatusCode)
	}
	got := app.wait(t, 1, 30*time.Second)[0]
	for _, h := range []string{"Authorization", "X-Attacker"} {
		if v := got.header.Get(h); v != "" {
			t.Errorf("forward carried %s: %q", h, v)
		}
	}
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), got.header, got.body); err != nil {
		t.Errorf("forward does not verify: %v", err)
	}
	var names []string
	for k := range got.header {
		names = append(names, k)
	}
	want := []string{"Accept-Encoding", "Content-Length", "Content-Type", "User-Agent", "Webhook-Id", "Webhook-Signature", "Webhook-Timestamp"}
	slices.Sort(names)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("forwarded headers (-want +got):\n%s", diff)
	}
}

// switchApp answers every forward with the status it is set to.
type switchApp struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	ok     []recorded
}

func newSwitchApp(t *testing.T, status int) *switchApp {
	a := &switchApp{}
	a.status.Store(int32(status))
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		code := int(a.status.Load())
		if code/100 == 2 {
			a.mu.Lock()
			a.ok = append(a.ok, recorded{r.Header.Clone(), body})
			a.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// Item 5: an event stored before a restart and forwarded after it carries a
// signature that verifies, like every other forward.
func TestListenForwardAfterRestart(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	app := newSwitchApp(t, http.StatusServiceUnavailable)
	args := []string{"--inbox", filepath.Join(t.TempDir(), "inbox.db"), "--secret", secret, "--no-dynamic",
		"--forward-to", app.srv.URL, "--attempts", "100", "--backoff", "50ms"}
	l := startListen(t, args...)
	if resp := send(t, signedDelivery(t, l.url, secret, "msg_restart")); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delivery: %d, want 202", resp.StatusCode)
	}
	l.stderr.wait(t, regexp.MustCompile(`webhook-id msg_restart, attempt 1 of 100\) failed`), 0, 30*time.Second)
	if code := l.stop(); code != exitOK {
		t.Fatalf("listen exit %d\n%s", code, l.stderr)
	}

	app.status.Store(http.StatusOK)
	l = startListen(t, args...)
	l.stdout.wait(t, regexp.MustCompile(`\(webhook-id msg_restart, attempt \d+\) +-> forwarded, 200$`), 0, 30*time.Second)
	app.mu.Lock()
	got := append([]recorded(nil), app.ok...)
	app.mu.Unlock()
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("app accepted %d forwards, want 1", len(got))
	}
	if _, err := v.Verify(context.Background(), got[0].header, got[0].body); err != nil {
		t.Errorf("forward after a restart does not verify: %v (headers %v)", err, got[0].header)
	}
}

// Item 3: past --max-conns open connections, a delivery gets a quick 503
// and its connection is closed, and once a connection closes, deliveries are
// stored again.
func TestListenConnectionCap(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	l := startListen(t, "--inbox", "memory", "--secret", secret, "--no-dynamic", "--max-conns", "2")
	u, err := url.Parse(l.url)
	if err != nil {
		t.Fatal(err)
	}
	// Two idle keep-alive connections, each known to be accepted because it
	// had an answer.
	var idle []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.Path, u.Host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d, want 405", resp.StatusCode)
		}
		idle = append(idle, conn)
	}
	start := time.Now()
	resp := send(t, signedDelivery(t, l.url, secret, "msg_over"))
	took := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the cap: %d, close %v, Retry-After %q; want 503, closed, with Retry-After",
			resp.StatusCode, resp.Close, resp.Header.Get("Retry-After"))
	}
	if took > 2*time.Second {
		t.Errorf("the 503 took %v", took)
	}
	t.Logf("503 over the cap in %v", took.Round(time.Millisecond))
	// The cap covers the whole address, the health check too.
	health, err := http.NewRequest(http.MethodGet, "http://"+u.Host+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp := send(t, health); resp.StatusCode != http.StatusServiceUnavailable || !resp.Close {
		t.Errorf("/healthz over the cap: %d, close %v; want 503, closed", resp.StatusCode, resp.Close)
	}

	// The server sees the close when it next reads that connection; the
	// sender retries, as Gemini does, until a delivery is stored.
	idle[0].Close()
	refused := 2
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := send(t, signedDelivery(t, l.url, secret, "msg_over"))
		if resp.StatusCode == http.StatusAccepted {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after a connection closed: %d", resp.StatusCode)
		}
		refused++
	}
	if code := l.stop(); code != exitOK {
		t.Fatalf("listen exit %d", code)
	}
	m, _ := l.stderr.wait(t, stoppedRE, 0, time.Second)
	want := fmt.Sprintf("%d received, 1 stored, 0 duplicates, %d rejected (0 unauthorized, %d over the connection cap)", refused+3, refused+2, refused)
	if !strings.HasPrefix(m[1], want) {
		t.Errorf("summary %q, want it to start with %q", m[1], want)
	}
}

// Item 6: every request is in exactly one bucket of the summary, read
// timeouts included.
func TestListenSummaryAddsUp(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	l := startListen(t, "--inbox", "memory", "--secret", secret, "--no-dynamic", "--read-timeout", "100ms")
	for _, want := range []int{http.StatusAccepted, http.StatusOK} {
		if resp := send(t, signedDelivery(t, l.url, secret, "msg_1")); resp.StatusCode != want {
			t.Fatalf("delivery: %d, want %d", resp.StatusCode, want)
		}
	}
	if resp := send(t, signedDelivery(t, l.url, testSecret(t), "msg_2")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forgery: %d, want 401", resp.StatusCode)
	}
	conn, r := trickle(t, l.url, "")
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body: %d, want 408", resp.StatusCode)
	}
	if code := l.stop(); code != exitOK {
		t.Fatalf("listen exit %d", code)
	}
	m, _ := l.stderr.wait(t, stoppedRE, 0, time.Second)
	re := regexp.MustCompile(`^(\d+) received, (\d+) stored, (\d+) duplicates?, (\d+) rejected \(1 unauthorized, 1 read timeout\)`)
	f := re.FindStringSubmatch(m[1])
	if f == nil {
		t.Fatalf("summary %q does not match %v", m[1], re)
	}
	n := make([]int, 4)
	for i := range n {
		n[i], _ = strconv.Atoi(f[i+1])
	}
	if n[0] != 4 || n[1]+n[2]+n[3] != n[0] {
		t.Errorf("summary %q: %d received, but %d+%d+%d in the buckets", m[1], n[0], n[1], n[2], n[3])
	}
}

// Item 3: every timeout of the server is set, so no phase of a request and
// no idle connection holds a connection for long.
func TestListenServerTimeouts(t *testing.T) {
	t.Parallel()
	srv := newServer(http.NotFoundHandler(), 10*time.Second, nil)
	type limits struct {
		ReadHeader, Read, Write, Idle time.Duration
		MaxHeaderBytes                int
	}
	got := limits{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes}
	want := limits{5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 64 << 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("server limits (-want +got):\n%s", diff)
	}
}

// listen --help states the limits the code sets, with their values.
func TestListenHelpMatchesLimits(t *testing.T) {
	t.Parallel()
	code, out, errs := runCLI(t, nil, "listen", "--help")
	if code != exitOK {
		t.Fatalf("listen --help: exit %d\n%s", code, errs)
	}
	help := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"headers must arrive within " + headerTimeout.String(),
		"a body within --read-timeout (408 after that)",
		"the answer within " + answerTimeout.String() + " more",
		fmt.Sprintf("a keep-alive connection idle for %d minute is closed", int(idleTimeout/time.Minute)),
		fmt.Sprintf("Headers are limited to %d KiB and bodies to 1 MiB", maxHeaderBytes>>10), // the listener's default MaxBodyBytes
		fmt.Sprintf("(default %d)", defaultMaxConns),
		fmt.Sprintf("(default %v)", defaultReadTimeout),
		"answered 503 at once, with Retry-After, and its connection closed",
		"a v1 webhook-signature made with --forward-secret (by default the first --secret)",
		"None of the delivery's own headers are passed on",
		"events that were being handled when the process died run again at once",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not say %q", want)
		}
	}
}
