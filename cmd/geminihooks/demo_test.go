package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/event"
)

var demoEventRE = regexp.MustCompile(`(?m)^ +\+\d+\.\d+s +(\S+) +\S+ +(v1|v1a|jwt) +\S+ +(.*)$`)

// checkDemoOutput checks a successful demo's plain output: each expected
// event shown once with the scheme that verified it, and the summary's
// counts, which are exact where the demo's faults make them so.
func checkDemoOutput(t *testing.T, out string, video, interaction string) {
	t.Helper()
	if strings.Contains(out, "\033[") || strings.Contains(out, "\r") {
		t.Errorf("plain output carries terminal control codes")
	}
	got := map[string]string{}
	for _, m := range demoEventRE.FindAllStringSubmatch(out, -1) {
		if _, dup := got[m[1]]; dup {
			t.Errorf("event %s shown twice", m[1])
		}
		got[m[1]] = m[2]
	}
	want := map[string]string{
		string(event.TypeBatchSucceeded):            "v1",
		string(event.TypeVideoGenerated):            video,
		string(event.TypeInteractionRequiresAction): interaction,
		string(event.TypeInteractionCompleted):      interaction,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events shown, type to scheme (-want +got):\n%s\noutput:\n%s", diff, out)
	}
	// Every delivery is sent twice, so each of the four events brings at
	// least one duplicate, and exactly one attempt is failed on purpose and
	// survived by a retry; a slow machine may add real failures, retries
	// and their duplicates on top, but never another injected one.
	for _, row := range []struct {
		re       string
		min, max int
	}{
		{`duplicates dropped +(\d+) `, 4, 1 << 30},
		{`retries survived +(\d+) `, 1, 1 << 30},
		{`delivery attempts +\d+ by the emulator; \d+ failed, (\d+) of them on purpose`, 1, 1},
	} {
		m := regexp.MustCompile(row.re).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("summary lacks %s:\n%s", row.re, out)
		} else if n, _ := strconv.Atoi(m[1]); n < row.min || n > row.max {
			t.Errorf("%s: got %d, want %d to %d:\n%s", row.re, n, row.min, row.max, out)
		}
	}
	schemes := map[string]int{}
	for _, sc := range want {
		schemes[sc]++
	}
	verified := fmt.Sprintf("verified by          v1 %d, v1a %d, jwt %d ", schemes["v1"], schemes["v1a"], schemes["jwt"])
	for _, line := range []string{
		"[6/6] summary",
		verified,
		"events delivered     4 of 4 expected",
		"routed to media-pipeline by user_metadata (tenant=acme)",
		"answered get_weather, follow-up v1_",
		"OK: every expected event was handled exactly once",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
}

// TestBinaryDemo runs the README's command through the built binary.
func TestBinaryDemo(t *testing.T) {
	t.Parallel()
	start := time.Now()
	// A generous --timeout: the test machine may be busy; the demo's own
	// default (15 s) is what people run.
	r := runBin(t, 2*time.Minute, nil, nil, "demo", "--timeout", "1m")
	if r.code != exitOK {
		t.Fatalf("demo: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("demo took %s", time.Since(start).Round(time.Millisecond))
	checkDemoOutput(t, r.stdout, "v1a", "jwt")
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// TestDemoJWT runs the demo in-process with every callback signed with a
// JWT.
func TestDemoJWT(t *testing.T) {
	t.Parallel()
	code, out, errs := runCLI(t, nil, "demo", "--dynamic-signing", "jwt", "--timeout", "1m")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	checkDemoOutput(t, out, "jwt", "jwt")
}

func TestDemoFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"demo", "--dynamic-signing", "v2"},
		{"demo", "--timeout", "0s"},
		{"demo", "extra"},
	} {
		if code, _, errs := runCLI(t, nil, args...); code != exitUsage || errs == "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
	}
}

func TestDemoTimeout(t *testing.T) {
	t.Parallel()
	code, _, errs := runCLI(t, nil, "demo", "--timeout", "50ms")
	if code != exitFailure || !strings.Contains(errs, "not finished within 50ms") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
}

func TestDemoCheck(t *testing.T) {
	t.Parallel()
	b := eventKey{event.TypeBatchSucceeded, "batches/b"}
	v := eventKey{event.TypeVideoGenerated, "models/m/operations/v"}
	ra := eventKey{event.TypeInteractionRequiresAction, "v1_a"}
	c := eventKey{event.TypeInteractionCompleted, "v1_c"}
	ping := eventKey{"webhook.ping", "x"}
	tests := []struct {
		name     string
		expected []eventKey
		handled  map[eventKey]int
		want     []string
	}{
		{"all once", []eventKey{b, v, ra, c}, map[eventKey]int{b: 1, v: 1, ra: 1, c: 1}, nil},
		{"twice", []eventKey{b, v, ra, c}, map[eventKey]int{b: 2, v: 1, ra: 1, c: 1},
			[]string{"batch.succeeded for batches/b was handled 2 times, want exactly once"}},
		{"never", []eventKey{b, v, ra, c}, map[eventKey]int{b: 1, ra: 1, c: 1},
			[]string{"video.generated for models/m/operations/v was handled 0 times, want exactly once"}},
		{"unexpected", []eventKey{b, v, ra, c}, map[eventKey]int{b: 1, v: 1, ra: 1, c: 1, ping: 1},
			[]string{"unexpected event webhook.ping for x"}},
		{"not answered", []eventKey{b, v, ra}, map[eventKey]int{b: 1, v: 1, ra: 1},
			[]string{"the interaction was never answered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &demo{expected: tt.expected, handled: tt.handled}
			for _, k := range []eventKey{b, v, ra, c, ping} {
				if tt.handled[k] > 0 {
					d.order = append(d.order, k)
				}
			}
			if diff := cmp.Diff(tt.want, d.check()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPollingRows(t *testing.T) {
	t.Parallel()
	s := func(ds ...float64) []time.Duration {
		var out []time.Duration
		for _, d := range ds {
			out = append(out, time.Duration(d*float64(time.Second)))
		}
		return out
	}
	tests := []struct {
		name  string
		poll  []time.Duration
		polls int
		want  [][2]string
	}{
		{"jobs of one length: one number, and why", s(3.75, 3.75, 3.75), 4, [][2]string{
			{"5 s polling loop", "p50 3.75s  p99 3.75s  (computed from the same jobs' end times: polled every 5 s from launch, 4 GETs)"},
			{"", "one number: these jobs end at the same point of a poll interval, so each waits alike; over job lengths spread evenly, a 5 s loop waits 2.50s at p50 and nearly 5.00s at p99"},
		}},
		{"a spread", s(0.5, 2, 4.5), 3, [][2]string{
			{"5 s polling loop", "p50 2.00s  p99 4.50s  (computed from the same jobs' end times: polled every 5 s from launch, 3 GETs)"},
		}},
		{"one job", s(1.25), 1, [][2]string{
			{"5 s polling loop", "p50 1.25s  p99 1.25s  (computed from the same jobs' end times: polled every 5 s from launch, 1 GET)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if d := cmp.Diff(tt.want, pollingRows(tt.poll, tt.polls)); d != "" {
				t.Errorf("pollingRows (-want +got):\n%s", d)
			}
		})
	}
}

func TestPlural(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0 attempts", 1: "1 attempt", 2: "2 attempts"} {
		if got := plural(n, "attempt", "attempts"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		p    int
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(40, 10, 30, 20), 50, 20 * time.Millisecond},
		{ms(40, 10, 30, 20), 99, 40 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %d) = %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}

func TestDemoOutputLive(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	o := newDemoOutput(&buf, true)
	o.println("before")
	o.startProgress(func() string { return "STATUS" })
	o.println("during")
	o.stopProgress()
	o.stopProgress() // idempotent
	o.println("after")
	want := "before\nSTATUS\r\033[Kduring\nSTATUS\r\033[Kafter\n"
	if got := buf.String(); got != want {
		t.Errorf("live output %q, want %q", got, want)
	}

	buf.Reset()
	o = newDemoOutput(&buf, false)
	o.startProgress(func() string { return "STATUS" })
	o.println("plain")
	o.stopProgress()
	if got := buf.String(); got != "plain\n" {
		t.Errorf("plain output %q", got)
	}
}
