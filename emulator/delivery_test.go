package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// hmacVerifies verifies d with secret alone.
func hmacVerifies(t *testing.T, secret string, d received) error {
	t.Helper()
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), d.header, d.body)
	return err
}

func TestRotation(t *testing.T) {
	t.Parallel()
	var now atomic.Pointer[time.Time]
	start := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	now.Store(&start)
	clock := func() time.Time { return *now.Load() }
	s := newServer(t, &emulator.Config{ManualJobs: true, Now: clock})
	rcv := newReceiver(t, 8)
	id, oldSecret := createWebhook(t, s, rcv.URL, "batch.succeeded")

	rotate := func(behavior string) string {
		code, b := call(t, s, http.MethodPost, "/v1beta/webhooks/"+id+":rotateSigningSecret", `{"revocation_behavior":"`+behavior+`"}`)
		var out struct{ Secret string }
		if code != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Secret == "" {
			t.Fatalf("rotate: %d %s", code, b)
		}
		return out.Secret
	}
	deliver := func() received {
		name := createBatch(t, s, "")
		if err := s.Finish(name, "succeeded"); err != nil {
			t.Fatal(err)
		}
		return rcv.next(t)
	}
	verifier := func(t *testing.T, secrets ...string) *signing.Verifier {
		v, err := signing.NewVerifier(&signing.Config{Secrets: secrets, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	check := func(t *testing.T, d received, wantSigs int, live []string, dead []string) {
		t.Helper()
		if got := len(signatures(d.header)); got != wantSigs {
			t.Fatalf("%d signatures, want %d: %q", got, wantSigs, d.header.Get("webhook-signature"))
		}
		for _, sc := range live {
			if _, err := verifier(t, sc).Verify(t.Context(), d.header, d.body); err != nil {
				t.Errorf("live secret does not verify: %v", err)
			}
		}
		for _, sc := range dead {
			if _, err := verifier(t, sc).Verify(t.Context(), d.header, d.body); !errors.Is(err, signing.ErrNoMatchingSignature) {
				t.Errorf("revoked secret: got %v, want ErrNoMatchingSignature", err)
			}
		}
	}

	check(t, deliver(), 1, []string{oldSecret}, nil)

	graceSecret := rotate("revoke_previous_secrets_after_h24")
	check(t, deliver(), 2, []string{oldSecret, graceSecret}, nil)

	// 24 hours on, the old secret has expired.
	later := start.Add(24*time.Hour + time.Second)
	now.Store(&later)
	check(t, deliver(), 1, []string{graceSecret}, []string{oldSecret})

	newest := rotate("revoke_previous_secrets_immediately")
	check(t, deliver(), 1, []string{newest}, []string{graceSecret, oldSecret})
}

func TestDisableAndReenable(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{
		ManualJobs:       true,
		FailureThreshold: 3,
		RetryBackoff:     time.Millisecond,
		RetryBackoffMax:  time.Millisecond,
	})
	rcv := newReceiver(t, 16)
	rcv.status.Store(http.StatusInternalServerError)
	id, secret := createWebhook(t, s, rcv.URL, "batch.failed")

	fail := func() {
		t.Helper()
		if err := s.Finish(createBatch(t, s, ""), "failed"); err != nil {
			t.Fatal(err)
		}
	}
	state := func() string {
		t.Helper()
		code, b := call(t, s, http.MethodGet, "/v1beta/webhooks/"+id, "")
		var wh struct{ State string }
		if code != http.StatusOK || json.Unmarshal(b, &wh) != nil {
			t.Fatalf("get: %d %s", code, b)
		}
		return wh.State
	}

	fail()
	idle(t, s) // the third failed attempt disables the webhook and drops the delivery
	if got := state(); got != "disabled_due_to_failed_deliveries" {
		t.Fatalf("state = %s, want %s", got, "disabled_due_to_failed_deliveries")
	}
	attempts := s.Attempts()
	if len(attempts) != 3 || attempts[2].OK || attempts[2].StatusCode != http.StatusInternalServerError {
		t.Fatalf("attempts = %+v, want 3 failures", attempts)
	}
	for range 3 {
		if err := hmacVerifies(t, secret, rcv.next(t)); err != nil {
			t.Fatal(err)
		}
	}

	fail() // a disabled webhook gets nothing
	idle(t, s)
	rcv.none(t)

	code, b := call(t, s, http.MethodPatch, "/v1beta/webhooks/"+id+"?update_mask=state", `{"state":"enabled"}`)
	if code != http.StatusOK || !strings.Contains(string(b), `"state":"enabled"`) {
		t.Fatalf("re-enable: %d %s", code, b)
	}
	rcv.status.Store(http.StatusOK)
	fail()
	idle(t, s)
	ev, err := event.Parse(rcv.next(t).body)
	if err != nil || ev.Type != event.TypeBatchFailed {
		t.Fatalf("after re-enable got %+v, %v", ev, err)
	}
	d, err := event.As[*event.Batch](ev)
	if n, cerr := strconv.Atoi(d.ErrorCode); err != nil || cerr != nil || n == 0 || d.ErrorMessage == "" {
		t.Fatalf("batch.failed data = %+v, %v", d, err)
	}
}

// TestRetryWindow runs a dynamic delivery to an endpoint that always fails
// through the whole 24-hour window, compressed.
func TestRetryWindow(t *testing.T) {
	t.Parallel()
	const factor = 50_000 // 24h -> 1.728s
	s := newServer(t, &emulator.Config{TimeScale: factor})
	rcv := newReceiver(t, 256)
	rcv.status.Store(http.StatusServiceUnavailable)
	start := time.Now()
	createBatch(t, s, fmt.Sprintf(`{"uris":[%q],"user_metadata":{"k":"v"}}`, rcv.URL))
	idle(t, s)

	attempts := s.Attempts()
	if len(attempts) < 10 {
		t.Fatalf("%d attempts, want the retry schedule to run (>= 10)", len(attempts))
	}
	window := 24 * time.Hour / factor
	for i, a := range attempts {
		if a.ID != attempts[0].ID || a.Number != i+1 || a.OK {
			t.Fatalf("attempt %d = %+v", i, a)
		}
		if a.GaveUp != (i == len(attempts)-1) {
			t.Fatalf("attempt %d GaveUp = %v", i+1, a.GaveUp)
		}
		if a.Start.Sub(start) > window+time.Second {
			t.Fatalf("attempt %d started %v after the job, past the %v window", i+1, a.Start.Sub(start), window)
		}
	}
	if len(rcv.got) != len(attempts) {
		t.Errorf("endpoint saw %d attempts, log has %d", len(rcv.got), len(attempts))
	}
	for range len(rcv.got) {
		if d := rcv.next(t); d.header.Get("webhook-id") != attempts[0].ID {
			t.Fatalf("webhook-id %q changed across retries", d.header.Get("webhook-id"))
		}
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{
		ManualJobs:      true,
		RetryBackoff:    time.Millisecond,
		RetryBackoffMax: time.Millisecond,
		Faults:          emulator.Faults{DuplicateRate: 1, FailFirst: 2, CutConnection: 1},
	})
	rcv := newReceiver(t, 16)
	_, secret := createWebhook(t, s, rcv.URL, "batch.expired")
	if err := s.Finish(createBatch(t, s, ""), "expired"); err != nil {
		t.Fatal(err)
	}
	idle(t, s)

	// The duplicate is sent once; the original fails twice (synthetic 503),
	// is cut once, then lands.
	var ids []string
	for range 2 {
		d := rcv.next(t)
		if err := hmacVerifies(t, secret, d); err != nil {
			t.Fatal(err)
		}
		if ev, err := event.Parse(d.body); err != nil || ev.Type != event.TypeBatchExpired {
			t.Fatalf("got %+v, %v", ev, err)
		}
		ids = append(ids, d.header.Get("webhook-id"))
	}
	rcv.none(t)
	if ids[0] != ids[1] {
		t.Errorf("duplicate has webhook-id %q, original %q", ids[1], ids[0])
	}

	var faults []string
	for _, a := range s.Attempts() {
		faults = append(faults, strings.Join(a.Faults, "+"))
	}
	slices.Sort(faults)
	if want := []string{"", "cut", "duplicate", "fail", "fail"}; !slices.Equal(faults, want) {
		t.Errorf("attempt faults = %q, want %q", faults, want)
	}

	// The same log over HTTP.
	res, err := http.Get(s.URL + "/emulator/v1/deliveries")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var log struct {
		Attempts []struct {
			ID      string `json:"id"`
			Attempt int    `json:"attempt"`
			OK      bool   `json:"ok"`
		} `json:"attempts"`
	}
	if err := json.NewDecoder(res.Body).Decode(&log); err != nil || len(log.Attempts) != 5 || log.Attempts[0].ID != ids[0] {
		t.Fatalf("GET /emulator/v1/deliveries: %+v, %v", log, err)
	}
}

// TestFailNext sets a one-shot failure over the admin endpoint and checks
// that exactly one attempt of three deliveries fails, and that all three
// then arrive.
func TestFailNext(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true, RetryBackoff: time.Millisecond, RetryBackoffMax: time.Millisecond})
	rcv := newReceiver(t, 8)
	_, secret := createWebhook(t, s, rcv.URL, "batch.succeeded")
	if code, b := call(t, s, http.MethodPost, "/emulator/v1/faults", `{"fail_next":1}`); code != http.StatusOK {
		t.Fatalf("set faults: %d %s", code, b)
	}
	for range 3 {
		if err := s.Finish(createBatch(t, s, ""), "succeeded"); err != nil {
			t.Fatal(err)
		}
	}
	idle(t, s)
	seen := map[string]bool{}
	for range 3 {
		d := rcv.next(t)
		if err := hmacVerifies(t, secret, d); err != nil {
			t.Fatal(err)
		}
		seen[d.header.Get("webhook-id")] = true
	}
	rcv.none(t)
	if len(seen) != 3 {
		t.Errorf("%d distinct deliveries arrived, want 3", len(seen))
	}
	var faults []string
	for _, a := range s.Attempts() {
		faults = append(faults, strings.Join(a.Faults, "+"))
	}
	slices.Sort(faults)
	if want := []string{"", "", "", "fail"}; !slices.Equal(faults, want) {
		t.Errorf("attempt faults = %q, want %q: one injected failure, then three successes", faults, want)
	}
}

// slowMachineWait lets a verification wait out a JWKS fetch that a busy CI
// machine (-race, 2 cores) slows past the 2s default; it bounds the wait and
// is never a synchronisation point.
var slowMachineWait = &signing.KeySetConfig{MaxWait: 20 * time.Second}

// remoteKeys returns the emulator's key set, fetched from its JWKS.
func remoteKeys(t *testing.T, s *emulator.Server) *signing.RemoteKeySet {
	t.Helper()
	keys, err := signing.NewRemoteKeySet(s.JWKSURL(), slowMachineWait)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestDynamicSchemes verifies webhook_config deliveries with keys fetched
// from the emulator's JWKS, for both dynamic schemes.
func TestDynamicSchemes(t *testing.T) {
	t.Parallel()
	for _, scheme := range []signing.Scheme{signing.SchemeEd25519, signing.SchemeJWT} {
		t.Run(string(scheme), func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &emulator.Config{ManualJobs: true, DynamicSigning: scheme})
			rcv := newReceiver(t, 4)
			static := newReceiver(t, 4)
			createWebhook(t, s, static.URL, "batch.succeeded") // bypassed: the job names its own URIs
			name := createBatch(t, s, fmt.Sprintf(`{"uris":[%q],"user_metadata":{"order":42}}`, rcv.URL+"/dyn"))
			if err := s.Finish(name, "succeeded"); err != nil {
				t.Fatal(err)
			}
			d := rcv.next(t)

			keys := remoteKeys(t, s)
			v, err := signing.NewVerifier(&signing.Config{Keys: keys, Issuer: s.URL, Audience: []string{rcv.URL + "/dyn"}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(t.Context(), d.header, d.body)
			if err != nil || got != scheme {
				t.Fatalf("Verify = %q, %v; want %q", got, err, scheme)
			}
			if scheme == signing.SchemeJWT {
				wrongAud, _ := signing.NewVerifier(&signing.Config{Keys: keys, Audience: []string{"https://elsewhere.example/"}})
				if _, err := wrongAud.Verify(t.Context(), d.header, d.body); err == nil {
					t.Error("a JWT for one endpoint verified for another audience")
				}
			}
			ev, err := event.Parse(d.body)
			if err != nil || ev.UserMetadata["order"] != float64(42) {
				t.Fatalf("event %+v, %v", ev, err)
			}
			idle(t, s)
			static.none(t)
		})
	}
}

// TestPerJobScheme runs jobs signed both ways on one server: the
// SigningHeader overrides WithDynamicSigning per job, and a job without it
// keeps the server's default.
func TestPerJobScheme(t *testing.T) {
	t.Parallel()
	s := newServer(t, &emulator.Config{ManualJobs: true, DynamicSigning: signing.SchemeJWT})
	rcv := newReceiver(t, 8)
	uri := rcv.URL + "/dyn"
	v, err := signing.NewVerifier(&signing.Config{Keys: remoteKeys(t, s), Issuer: s.URL, Audience: []string{uri}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"uris":[%q]}`, uri)
	tests := []struct {
		name   string
		header []string
		want   signing.Scheme
	}{
		{"header v1a", []string{emulator.SigningHeader, "v1a"}, signing.SchemeEd25519},
		{"header jwt", []string{emulator.SigningHeader, "jwt"}, signing.SchemeJWT},
		{"server default", nil, signing.SchemeJWT},
	}
	for _, tc := range tests {
		// Sequential: each job's one delivery is read before the next starts.
		name := createBatch(t, s, cfg, tc.header...)
		if err := s.Finish(name, "succeeded"); err != nil {
			t.Fatal(err)
		}
		d := rcv.next(t)
		got, err := v.Verify(t.Context(), d.header, d.body)
		if err != nil || got != tc.want {
			t.Errorf("%s: Verify = %q, %v; want %q", tc.name, got, err, tc.want)
		}
		if ev, err := event.Parse(d.body); err != nil || ev.JobID != name {
			t.Errorf("%s: delivery for %+v (%v), want job %s", tc.name, ev, err, name)
		}
	}
	idle(t, s)
	rcv.none(t)
}

// TestThousandJobs runs 1,000 batches at once, half delivered to a
// registered webhook and half through webhook_config, and waits for every
// event.
func TestThousandJobs(t *testing.T) {
	t.Parallel()
	const jobs = 1000
	s := newServer(t, &emulator.Config{Pending: time.Millisecond, Running: time.Millisecond})
	static := newReceiver(t, 2*jobs)
	dyn := newReceiver(t, 2*jobs)
	_, secret := createWebhook(t, s, static.URL, "batch.succeeded")
	start := time.Now()

	names := make(chan string, jobs)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < jobs; i += 8 {
				cfg := ""
				if i%2 == 0 {
					cfg = fmt.Sprintf(`{"uris":[%q],"user_metadata":{"i":%d}}`, dyn.URL, i)
				}
				names <- createBatch(t, s, cfg)
			}
		})
	}
	wg.Wait()
	close(names)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := s.Idle(ctx); err != nil {
		t.Fatalf("Idle: %v", err)
	}
	elapsed := time.Since(start)

	want := map[string]bool{}
	for n := range names {
		want[n] = true
	}
	hv, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	dv := dynamicVerifier(t, s, nil)
	seen := map[string]bool{}
	for _, c := range []struct {
		rcv *receiver
		v   *signing.Verifier
		n   int
	}{{static, hv, jobs / 2}, {dyn, dv, jobs / 2}} {
		if len(c.rcv.got) != c.n {
			t.Fatalf("endpoint got %d deliveries, want %d", len(c.rcv.got), c.n)
		}
		for range c.n {
			ev := parseVerified(t, c.v, c.rcv.next(t))
			d, err := event.As[*event.Batch](ev)
			if err != nil || !want[d.ID] || seen[d.ID] {
				t.Fatalf("event for %q: %v (duplicate: %v)", d.ID, err, seen[d.ID])
			}
			seen[d.ID] = true
		}
	}
	if len(seen) != jobs {
		t.Fatalf("%d jobs delivered, want %d", len(seen), jobs)
	}
	t.Logf("%d jobs created, run and delivered in %v", jobs, elapsed)
}
