package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickReport runs every part of the harness at smoke-test size into a temporary BENCHMARKS.md, so a
// broken harness fails CI. It checks structure, never a figure: timing is not a test's business.
func TestQuickReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers and benchmarks for several seconds")
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	const prose = "# Benchmarks\n\nHand-written prose that a run must keep.\n"
	if err := os.WriteFile(md, []byte(prose), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var log bytes.Buffer
	if err := run(ctx, []string{"-quick", "-out", md, "-root", dir}, &log); err != nil {
		t.Fatalf("report: %v\n%s", err, log.String())
	}
	got, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(got)
	for _, want := range []string{
		prose,
		"<!-- bench:machine:begin -->", "load average",
		"<!-- bench:signatures:begin -->", "standard-webhooks", "svix", "floor (ed25519.Verify)", "floor (rsa.VerifyPKCS1v15)",
		"<!-- bench:listener:begin -->", "bare net/http 204", "listener + inbox.Memory", "listener + boltinbox", "listener + pginbox",
		"<!-- bench:handlers:begin -->", "| inbox | 1 worker | 8 workers | 32 workers |", "| boltinbox |",
		"<!-- bench:growth:begin -->", "| 1 MiB | 20 | listener + boltinbox |", "| boltinbox | 10^3 |",
		"<!-- bench:pushpoll:begin -->", "push (listener)", "polling Get every 100ms", "<!-- bench:pushpoll:end -->",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
	for _, chart := range []string{"docs/bench-latency-cdf.svg", "docs/bench-throughput.svg", "docs/bench-push-poll-cdf.svg"} {
		svg, err := os.ReadFile(filepath.Join(dir, chart))
		if err != nil {
			t.Errorf("chart: %v", err)
			continue
		}
		if err := xml.Unmarshal(svg, new(struct{})); err != nil || !strings.Contains(string(svg), "<polyline") {
			t.Errorf("%s is not an SVG with a line: %v", chart, err)
		}
	}

	// A second run rewrites the sections in place rather than appending them again.
	if err := run(ctx, []string{"-quick", "-parts", "sig", "-benchtime", "1ms", "-out", md, "-root", dir}, &log); err != nil {
		t.Fatalf("second report: %v\n%s", err, log.String())
	}
	again, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(again), "<!-- bench:signatures:begin -->"); n != 1 {
		t.Errorf("after a second run the signatures section appears %d times", n)
	}
	if !strings.Contains(string(again), "<!-- bench:pushpoll:begin -->") {
		t.Error("a run of one part dropped another part's section")
	}
}

func TestUnknownInbox(t *testing.T) {
	err := run(t.Context(), []string{"-parts", "listen", "-inboxes", "boltinbox,sqlite"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown inbox "sqlite"`) {
		t.Errorf("run = %v; want an error naming the unknown inbox", err)
	}
}
