package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binPath is the geminihooks binary, built once per test run by TestMain.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "geminihooks-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the CLI needs the go command:", err)
		return 1
	}
	binPath = filepath.Join(dir, "geminihooks")
	// Without -race even under go test -race: a race-enabled binary takes
	// over a second to start, and the end-to-end tests start dozens. The
	// in-process tests run the same code under the race detector.
	out, err := exec.Command(gobin, "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// runCLI runs the CLI in-process with a fixed environment.
func runCLI(t *testing.T, e *env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if e == nil {
		e = &env{}
	}
	ee := *e
	ee.stdout, ee.stderr = &out, &errb
	if ee.stdin == nil {
		ee.stdin = strings.NewReader("")
	}
	if ee.getenv == nil {
		ee.getenv = func(string) string { return "" }
	}
	if ee.now == nil {
		ee.now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code = runEnv(ctx, &ee, args)
	return code, out.String(), errb.String()
}

// binResult is a finished run of the built binary.
type binResult struct {
	code           int
	stdout, stderr string
}

// runBin runs the built binary to completion, bounded by timeout.
func runBin(t *testing.T, timeout time.Duration, stdin io.Reader, envv []string, args ...string) binResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(cleanEnv(), envv...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("geminihooks %s: did not finish within %s\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), timeout, out.String(), errb.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("geminihooks %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return binResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// cleanEnv is the test process's environment without the variables the
// CLI reads, so a developer's own settings cannot change a test.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GEMINI_") || strings.HasPrefix(kv, "GOOGLE_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
