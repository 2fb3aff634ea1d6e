// Command report runs the geminihooks benchmark harness (bench/internal/harness) in one process and
// rewrites the generated tables of BENCHMARKS.md, between their marker comments, and the SVG charts
// under docs/.
//
//	cd bench && go run ./cmd/report            # everything, full size
//	cd bench && go run ./cmd/report -quick     # a smoke test of every part; the figures mean nothing
//	cd bench && go run ./cmd/report -parts listen -rates 500,1000 -duration 3s
//	cd bench && go run ./cmd/report -parts listen -rates 250,2000,4000,5000,6000 -duration 3s -runs 5
//	cd bench && go run ./cmd/report -parts handlers,growth
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/bench/internal/harness"
)

func main() {
	testing.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// run parses args, runs the harness and writes its output. testing.Init must have run (the test binary
// does it), since testing.Benchmark reads -test.benchtime.
func run(ctx context.Context, args []string, logw io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(logw)
	quick := fs.Bool("quick", false, "smoke-test sizes: every part in seconds, meaningless figures")
	parts := fs.String("parts", "sig,listen,handlers,growth,pushpoll", "comma-separated parts to run: sig, listen, handlers, growth, pushpoll")
	out := fs.String("out", "../BENCHMARKS.md", "Markdown file whose generated sections are rewritten")
	root := fs.String("root", "..", "repository root; charts go under its docs/")
	rates := fs.String("rates", "", "listener offered rates, requests/s, comma-separated (default by size)")
	loadDur := fs.Duration("duration", 0, "load per rate and server, for listen and growth (default by size)")
	events := fs.Int("handler-events", 0, "events stored before the handlers part times their handling (default by size)")
	stored := fs.String("stored", "", "growth: events already stored before a load, comma-separated (default by size)")
	storedRate := fs.Float64("stored-rate", 0, "growth: requests/s offered with events stored (default by size)")
	runs := fs.Int("runs", 1, "times the whole listen measurement is repeated; a target is met only if met in every run")
	jobs := fs.Int("jobs", 0, "jobs for push and for polling (default by size)")
	inboxes := fs.String("inboxes", "", "comma-separated inboxes to measure: inbox.Memory, boltinbox, pginbox (default all)")
	pg := fs.String("postgres", os.Getenv("GEMINIHOOKS_TEST_POSTGRES"), "PostgreSQL URL for the pginbox row; empty skips it")
	commit := fs.String("commit", gitCommit(), "names the geminihooks tree measured (default: git's HEAD, marked dirty if modified)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (load generator and servers alike) to this file")
	benchtime := fs.Duration("benchtime", 0, "testing.Benchmark time per signature benchmark (default by size)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := harness.Full()
	if *quick {
		cfg = harness.Quick()
	}
	cfg.Postgres = *pg
	if *inboxes != "" {
		for name := range strings.SplitSeq(*inboxes, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(harness.Inboxes(), name) {
				return fmt.Errorf("unknown inbox %q (have %s)", name, strings.Join(harness.Inboxes(), ", "))
			}
			cfg.Inboxes = append(cfg.Inboxes, name)
		}
	}
	cfg.Commit = *commit
	cfg.Sig, cfg.Listen, cfg.Handlers, cfg.Growth, cfg.PushPoll = false, false, false, false, false
	for p := range strings.SplitSeq(*parts, ",") {
		switch strings.TrimSpace(p) {
		case "sig":
			cfg.Sig = true
		case "listen":
			cfg.Listen = true
		case "handlers":
			cfg.Handlers = true
		case "growth":
			cfg.Growth = true
		case "pushpoll":
			cfg.PushPoll = true
		default:
			return fmt.Errorf("unknown part %q", p)
		}
	}
	if *rates != "" {
		cfg.Rates = nil
		for r := range strings.SplitSeq(*rates, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
			if err != nil || v <= 0 {
				return fmt.Errorf("bad rate %q", r)
			}
			cfg.Rates = append(cfg.Rates, v)
		}
	}
	if *stored != "" {
		cfg.Stored = nil
		for c := range strings.SplitSeq(*stored, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil || v <= 0 {
				return fmt.Errorf("bad stored count %q", c)
			}
			cfg.Stored = append(cfg.Stored, v)
		}
	}
	if *storedRate > 0 {
		cfg.StoredRate = *storedRate
	}
	if *runs < 1 {
		return fmt.Errorf("-runs %d: need at least one run", *runs)
	}
	cfg.Runs = *runs
	if *loadDur > 0 {
		cfg.LoadDuration = *loadDur
	}
	if *events > 0 {
		cfg.HandlerEvents = *events
	}
	if *jobs > 0 {
		cfg.Jobs = *jobs
	}
	if *benchtime > 0 {
		cfg.BenchTime = *benchtime
	}
	if err := flag.Set("test.benchtime", cfg.BenchTime.String()); err != nil {
		return err
	}
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(logw, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := harness.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.Command = "go run ./cmd/report"
	for _, a := range args {
		res.Command += " " + shellQuote(a)
	}
	if err := res.Write(*out, *root); err != nil {
		return err
	}
	abs, _ := filepath.Abs(*out)
	fmt.Fprintln(logw, "wrote", abs)
	return nil
}

// gitCommit names the checked-out tree: the HEAD commit, "+ uncommitted changes" when the work tree
// differs from it, or "" outside a git checkout.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := "commit `" + strings.TrimSpace(string(out)) + "`"
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += " plus uncommitted changes in the work tree"
	}
	return c
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
