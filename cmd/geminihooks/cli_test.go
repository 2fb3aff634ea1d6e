package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	for _, args := range commandPaths() {
		for _, help := range []string{"--help", "-h"} {
			t.Run(strings.Join(args, " ")+" "+help, func(t *testing.T) {
				t.Parallel()
				code, out, errs := runCLI(t, nil, append(args, help)...)
				if code != exitOK {
					t.Fatalf("exit %d\n%s%s", code, out, errs)
				}
				if want := "Usage:\n  geminihooks " + strings.Join(args, " "); !strings.HasPrefix(out, want) {
					t.Errorf("help does not start with %q:\n%s", want, out)
				}
				_, example, ok := strings.Cut(out, "\nExample:\n")
				if !ok || !strings.Contains(example, "geminihooks "+args[0]) {
					t.Errorf("help has no example running %q:\n%s", args[0], out)
				}
				if errs != "" {
					t.Errorf("help wrote to stderr: %s", errs)
				}
			})
		}
	}
}

// commandPaths lists every command and subcommand, as typed.
func commandPaths() [][]string {
	var paths [][]string
	for _, c := range commands() {
		paths = append(paths, []string{c.name})
		if c.group != nil {
			for _, s := range c.group().subs {
				paths = append(paths, strings.Fields(s.name))
			}
		}
	}
	return paths
}

func TestMainUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		wantCode int
		stdout   string
		stderr   string
	}{
		{nil, exitUsage, "", "Commands:"},
		{[]string{"help"}, exitOK, "Commands:", ""},
		{[]string{"--help"}, exitOK, "Commands:", ""},
		{[]string{"help", "verify"}, exitOK, "Exit codes:", ""},
		{[]string{"help", "nope"}, exitUsage, "", `unknown command "nope"`},
		{[]string{"nope"}, exitUsage, "", `unknown command "nope"`},
		{[]string{"verify", "--no-such-flag"}, exitUsage, "", "flag provided but not defined: -no-such-flag"},
		{[]string{"webhooks"}, exitUsage, "", "missing subcommand"},
		{[]string{"webhooks", "frobnicate"}, exitUsage, "", `unknown subcommand "frobnicate"`},
		{[]string{"webhooks", "get"}, exitUsage, "", "want the webhook ID"},
		{[]string{"webhooks", "list"}, exitUsage, "", "GEMINI_API_KEY is not set"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errs := runCLI(t, nil, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(out, tt.stdout) || !strings.Contains(errs, tt.stderr) {
				t.Errorf("stdout %q, stderr %q; want them to hold %q and %q", out, errs, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	c := &command{name: "x"}
	tests := []struct {
		args    []string
		wantPos []string
		wantTo  string
	}{
		{[]string{"a", "--to", "u", "b"}, []string{"a", "b"}, "u"},
		{[]string{"--to", "u", "a"}, []string{"a"}, "u"},
		{[]string{"a", "--", "--to", "u"}, []string{"a", "--to", "u"}, ""},
		{[]string{"--", "-x"}, []string{"-x"}, ""},
	}
	for _, tt := range tests {
		fs := c.newFlagSet()
		to := fs.String("to", "", "")
		pos, _, stop := c.parse(&env{}, fs, tt.args)
		if stop || strings.Join(pos, " ") != strings.Join(tt.wantPos, " ") || *to != tt.wantTo {
			t.Errorf("parse(%q) = %q, to=%q, stop=%v; want %q, %q", tt.args, pos, *to, stop, tt.wantPos, tt.wantTo)
		}
	}
}

// The API key travels in a header, so the CLI must refuse to send it over
// plain http to a host that is not loopback.
func TestWebhooksBaseURLKeepsKeyOffPlainHTTP(t *testing.T) {
	t.Parallel()
	const key = "AIzaCLITestKey0123456789"
	tests := []struct {
		name, baseURL string
	}{
		{"remote host", "http://example.invalid"},
		{"loopback lookalike", "http://127.0.0.1.nip.io:8686"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &env{getenv: func(k string) string {
				if k == "GEMINI_API_KEY" {
					return key
				}
				return ""
			}}
			code, out, errs := runCLI(t, e, "webhooks", "list", "--base-url", tt.baseURL, "--timeout", "2s")
			if code != exitUsage || !strings.Contains(errs, "must use https") {
				t.Fatalf("exit %d (want %d), stderr lacks \"must use https\":\n%s%s", code, exitUsage, out, errs)
			}
			if strings.Contains(out+errs, key) {
				t.Errorf("output shows the API key")
			}
		})
	}
}

// An API error message is the server's text: printed raw, escape sequences
// in it would drive the user's terminal.
func TestFailEscapesServerText(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":404,"status":"NOT_FOUND","message":"gone\u001b]0;pwned\u0007\u001b[2J"}}`)
	}))
	t.Cleanup(srv.Close)
	e := &env{getenv: func(k string) string {
		if k == "GEMINI_API_KEY" {
			return "test-key"
		}
		return ""
	}}
	code, out, errs := runCLI(t, e, "webhooks", "get", "w1", "--base-url", srv.URL)
	if code != exitFailure || !strings.Contains(errs, "NOT_FOUND") {
		t.Fatalf("exit %d (want %d):\n%s%s", code, exitFailure, out, errs)
	}
	if strings.ContainsAny(errs, "\x1b\x07") {
		t.Errorf("stderr carries the server's control characters: %q", errs)
	}
}
