package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/emulator"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}

// TestErrorMessagesGolden holds the whole text of the CLI's error messages
// for mistakes a newcomer makes, so that a message that repeats itself or
// misleads shows up in review as a diff of this file.
func TestErrorMessagesGolden(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	busyInbox := filepath.Join(dir, "busy.db")
	// No request leaves the process: every case fails before one is sent.
	const api = "--base-url=http://127.0.0.1:9"
	cases := [][]string{
		{"emulator", "--addr", busy.Addr().String()},
		{"listen", "--addr", busy.Addr().String(), "--inbox", busyInbox, "--secret", secret, "--no-dynamic"},
		{"listen", "--addr", "127.0.0.1:0", "--inbox", dir, "--secret", secret, "--no-dynamic"},
		{"listen", "--addr", "127.0.0.1:0", "--inbox", "memory", "--secret", "whsec_abcdefg", "--no-dynamic"},
		{"listen", "--addr", "127.0.0.1:0", "--inbox", "memory", "--secret", secret, "--secret", "whsec_not*base64", "--no-dynamic"},
		{"listen", "--addr", "127.0.0.1:0", "--inbox", "memory", "--jwks-file", dir},
		{"verify", "--secret", secret, dir},
		{"webhooks", "create", api, "--uri", "https://example.com/hook", "--event", "batch.succeded"},
		{"webhooks", "create", api, "--uri", "http://example.com/hook?token=t0k3n", "--event", "batch.succeeded"},
		{"webhooks", "create", "--uri", "http://example.com/hook", "--event", "batch.succeeded"},
		{"webhooks", "create", api, "--uri", "https://user:pass@example.com/hook", "--event", "batch.succeeded"},
		{"webhooks", "create", api, "--uri", "example.com/hook", "--event", "batch.succeeded"},
		{"webhooks", "update", api, "k0h9q38f6ejj", "--uri", "ftp://example.com/hook"},
		{"webhooks", "update", api, "k0h9q38f6ejj", "--event", "video.generated,batch.faild"},
		{"emulator", "jobs", "training"},
		{"emulator", "jobs", "video", "--outcome", "expired"},
		{"emulator", "jobs", "batch", "--user-metadata", "order=A-17"},
		{"emulator", "jobs", "batch", "--signing", "jwt"},
		{"emulator", "jobs", "batch", "--callback", "localhost:8080/hook"},
		{"completion"},
		{"version", "extra"},
	}
	e := &env{getenv: func(k string) string {
		if k == "GEMINI_API_KEY" {
			return "AIzaGoldenTestKey0123456789"
		}
		return ""
	}}
	var b strings.Builder
	for _, args := range cases {
		code, out, errs := runCLI(t, e, args...)
		fmt.Fprintf(&b, "$ geminihooks %s\nexit %d\n%s%s\n", strings.Join(args, " "), code, out, errs)
	}
	got := strings.ReplaceAll(b.String(), dir, "$TMP")
	got = strings.ReplaceAll(got, busy.Addr().String(), "$BUSY")
	golden(t, "errors.golden", got)

	if _, err := os.Stat(busyInbox); !os.IsNotExist(err) {
		t.Errorf("listen on a busy port left %s behind (stat: %v)", busyInbox, err)
	}
}

// TestShortAPIKeyMessages: with the emulator's --api-key k (or o), an API
// error reads as the server wrote it; redacting the key must not take
// letters out of words or break the JSON.
func TestShortAPIKeyMessages(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"k", "o"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			emu, err := emulator.NewServer(&emulator.Config{Addr: "127.0.0.1:0", APIKey: key})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(emu.Close)
			e := &env{getenv: func(k string) string {
				if k == "GEMINI_API_KEY" {
					return key
				}
				return ""
			}}
			code, out, errs := runCLI(t, e, "webhooks", "get", "nope", "--base-url", emu.URL)
			if code != exitFailure {
				t.Errorf("exit %d, want %d\n%s", code, exitFailure, out)
			}
			want := "geminihooks webhooks get: api error 404 NOT_FOUND: Webhook \"nope\" not found.\n"
			if d := cmp.Diff(want, errs); d != "" {
				t.Errorf("stderr (-want +got):\n%s", d)
			}
		})
	}
}

// TestHelpGolden holds the whole help text of the commands whose help this
// file's tests were written for: placeholders in capitals, descriptions
// that start with a capital, and the emulator's jobs subcommand.
func TestHelpGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, args := range [][]string{
		{"help"},
		{"emulator", "--help"},
		{"emulator", "jobs", "--help"},
		{"webhooks", "create", "--help"},
		{"version", "--help"},
		{"completion", "--help"},
	} {
		code, out, errs := runCLI(t, nil, args...)
		fmt.Fprintf(&b, "$ geminihooks %s\nexit %d\n%s%s\n", strings.Join(args, " "), code, out, errs)
	}
	golden(t, "help.golden", b.String())
}
