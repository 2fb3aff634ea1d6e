package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
)

func TestVersionLine(t *testing.T) {
	t.Parallel()
	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "geminihooks (unknown version: the binary has no build information)"},
		{"a release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}},
			"geminihooks v1.2.3 (go1.26.0)"},
		{"a clean checkout", &debug.BuildInfo{GoVersion: "go1.26.0",
			Main:     debug.Module{Version: "v1.2.4-0.20261206103356-dfc3002d0f1e"},
			Settings: settings("vcs", "git", "vcs.revision", "dfc3002d0f1e", "vcs.modified", "false")},
			"geminihooks v1.2.4-0.20261206103356-dfc3002d0f1e (commit dfc3002d0f1e; go1.26.0)"},
		{"uncommitted changes", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "dfc3002d0f1e", "vcs.modified", "true")},
			"geminihooks (devel) (commit dfc3002d0f1e, modified; go1.26.0)"},
		{"nothing recorded", &debug.BuildInfo{}, "geminihooks (devel)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if d := cmp.Diff(tt.want, versionLine(tt.info)); d != "" {
				t.Errorf("versionLine (-want +got):\n%s", d)
			}
		})
	}
}

// TestBinaryVersion: `version` and `--version` print the same line, and it
// shows what the go command reads from the binary's build information.
func TestBinaryVersion(t *testing.T) {
	t.Parallel()
	a := runBin(t, time.Minute, nil, nil, "version")
	b := runBin(t, time.Minute, nil, nil, "--version")
	if a.code != exitOK || b.code != exitOK || a.stdout != b.stdout {
		t.Fatalf("version: exit %d %q; --version: exit %d %q", a.code, a.stdout, b.code, b.stdout)
	}
	out, err := exec.Command("go", "version", "-m", binPath).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var version, revision string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[0] == "mod":
			version = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			revision = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if version == "" || !strings.HasPrefix(a.stdout, "geminihooks "+version+" ") {
		t.Errorf("version printed %q; the binary records module version %q", a.stdout, version)
	}
	if revision != "" && !strings.Contains(a.stdout, "commit "+revision) {
		t.Errorf("version printed %q; the binary records revision %s", a.stdout, revision)
	}
}

// TestHelpConventions: every flag's placeholder is in capitals, so it cannot
// be read as a default, and every description starts with a capital.
func TestHelpConventions(t *testing.T) {
	t.Parallel()
	names := commandPaths()
	flagRe := regexp.MustCompile(`^  --[a-z0-9-]+(?: (\S+))?$`)
	for _, args := range names {
		code, out, _ := runCLI(t, nil, append(args, "--help")...)
		if code != exitOK {
			t.Fatalf("%q --help: exit %d", args, code)
		}
		_, flags, _ := strings.Cut(out, "\nFlags:\n")
		flags, _, _ = strings.Cut(flags, "\nExample:\n")
		lines := strings.Split(strings.TrimRight(flags, "\n"), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			m := flagRe.FindStringSubmatch(lines[i])
			if m == nil {
				t.Errorf("%q: flag line %q", args, lines[i])
				continue
			}
			if m[1] != strings.ToUpper(m[1]) {
				t.Errorf("%q: placeholder %q in %q is not in capitals", args, m[1], lines[i])
			}
			desc := strings.TrimSpace(lines[i+1])
			if r := []rune(desc); len(r) == 0 || !unicode.IsUpper(r[0]) {
				t.Errorf("%q: description of %s starts lower-case: %q", args, lines[i], desc)
			}
		}
	}
	_, out, _ := runCLI(t, nil, "help")
	_, list, _ := strings.Cut(out, "Commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	for _, l := range strings.Split(list, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !unicode.IsUpper([]rune(f[1])[0]) {
			t.Errorf("command summary starts lower-case: %q", l)
		}
	}
}

func TestAPIKeyPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, google, gemini string
		want, wantStatus     string
		wantErr              bool
	}{
		{"GEMINI_API_KEY alone", "", "gemini-key", "gemini-key", "", false},
		{"GOOGLE_API_KEY alone", "google-key", "", "google-key", "", false},
		{"both: GOOGLE_API_KEY wins, as in genai", "google-key", "gemini-key", "google-key",
			"Both GOOGLE_API_KEY and GEMINI_API_KEY are set; using GOOGLE_API_KEY, as genai does\n", false},
		{"both the same", "same-key", "same-key", "same-key", "", false},
		{"neither", "", " ", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr strings.Builder
			e := &env{stderr: &stderr, getenv: func(k string) string {
				return map[string]string{"GOOGLE_API_KEY": tt.google, "GEMINI_API_KEY": tt.gemini}[k]
			}}
			got, err := apiKey(e)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("apiKey = %q, %v; want %q (error: %v)", got, err, tt.want, tt.wantErr)
			}
			if d := cmp.Diff(tt.wantStatus, stderr.String()); d != "" {
				t.Errorf("status (-want +got):\n%s", d)
			}
		})
	}
}

// TestLogFormatJSON: with --log-format json a status line is one JSON
// object, with the line's text as msg and its facts as fields.
func TestLogFormatJSON(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	e := &env{getenv: func(k string) string {
		return map[string]string{"GOOGLE_API_KEY": "google-key", "GEMINI_API_KEY": "gemini-key"}[k]
	}}
	for _, args := range [][]string{
		{"webhooks", "--log-format", "json", "list", "--base-url", dead},
		{"webhooks", "list", "--log-format=json", "--base-url", dead},
	} {
		code, _, errs := runCLI(t, e, args...)
		if code != exitFailure {
			t.Errorf("%q: exit %d, want %d", args, code, exitFailure)
		}
		first, _, _ := strings.Cut(errs, "\n")
		var line struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(first), &line); err != nil {
			t.Fatalf("%q: status line is not JSON (%v): %q", args, err, first)
		}
		if line.Level != "INFO" || !strings.HasPrefix(line.Msg, "Both GOOGLE_API_KEY and GEMINI_API_KEY are set") {
			t.Errorf("%q: status line %+v", args, line)
		}
		if strings.Contains(errs, "google-key") || strings.Contains(errs, "gemini-key") {
			t.Errorf("%q: stderr shows an API key: %s", args, errs)
		}
	}
	if code, _, errs := runCLI(t, nil, "verify", "--log-format", "yaml"); code != exitUsage || !strings.Contains(errs, "want text or json") {
		t.Errorf("--log-format yaml: exit %d, stderr %q", code, errs)
	}
}

// TestLogFormatOnEveryCommand: every command and subcommand takes
// --log-format, as its help says; a group's before the subcommand's name
// too.
func TestLogFormatOnEveryCommand(t *testing.T) {
	t.Parallel()
	for _, args := range commandPaths() {
		code, out, _ := runCLI(t, nil, append(args, "--help")...)
		if code != exitOK || !strings.Contains(out, "\n  --log-format FORMAT\n") {
			t.Errorf("%q --help: exit %d, no --log-format:\n%s", args, code, out)
		}
	}
	path := filepath.Join(t.TempDir(), "inbox.db")
	ib, err := boltinbox.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ib.Close()
	for _, args := range [][]string{
		{"inbox", "--log-format", "json", "list", "--inbox", path},
		{"inbox", "dead", "--inbox", path, "--log-format=json"},
	} {
		code, _, errs := runCLI(t, nil, args...)
		var line struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(errs), &line); code != exitOK || err != nil || line.Msg != "no events" {
			t.Errorf("%q: exit %d, status line %q (%v)", args, code, errs, err)
		}
	}
}

// TestListenLogFormatJSON: listen's start-up and summary lines in JSON.
func TestListenLogFormatJSON(t *testing.T) {
	t.Parallel()
	l := startListenJSON(t)
	if code := l.stop(); code != exitOK {
		t.Fatalf("listen exit %d", code)
	}
	var last map[string]any
	for _, s := range strings.Split(l.stderr.String(), "\n") {
		last = nil
		if err := json.Unmarshal([]byte(s), &last); err != nil {
			t.Fatalf("not a JSON line: %q", s)
		}
	}
	if last["msg"] == nil || !strings.HasPrefix(last["msg"].(string), "stopped: ") || last["received"] != 0.0 {
		t.Errorf("last line: %v", last)
	}
}

// startListenJSON is startListen with --log-format json, whose first line
// gives the URL.
func startListenJSON(t *testing.T) *inProcessListen {
	t.Helper()
	return startListenUntil(t, regexp.MustCompile(`"msg":"listening on (http://[^"]+)","url":"`),
		"--inbox", "memory", "--no-dynamic", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--log-format", "json")
}

// TestCompletionScripts keeps the three scripts in testdata, and runs the
// bash one in bash to check what it offers.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errs := runCLI(t, nil, "completion", shell)
		if code != exitOK || errs != "" {
			t.Fatalf("completion %s: exit %d\n%s", shell, code, errs)
		}
		golden(t, "completion."+shell+".golden", out)
	}
	if code, _, errs := runCLI(t, nil, "completion", "tcsh"); code != exitUsage || !strings.Contains(errs, `unknown shell "tcsh"; want bash, zsh or fish`) {
		t.Errorf("completion tcsh: exit %d, stderr %q", code, errs)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the bash script in")
	}
	_, script, _ := runCLI(t, nil, "completion", "bash")
	path := filepath.Join(t.TempDir(), "geminihooks.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		words []string // as typed; the last is being completed
		want  string
	}{
		{[]string{"geminihooks", "w"}, "webhooks"},
		{[]string{"geminihooks", "webhooks", "r"}, "rotate"},
		{[]string{"geminihooks", "webhooks", "--base-url", "http://x", "cr"}, "create"},
		{[]string{"geminihooks", "webhooks", "create", "--e"}, "--event"},
		{[]string{"geminihooks", "listen", "--addr", "127.0.0.1:0", "--a"}, "--addr --attempts --audience"},
		{[]string{"geminihooks", "emulator", "jobs", "i"}, "interaction"},
		{[]string{"geminihooks", "inbox", "r"}, "replay"},
		{[]string{"geminihooks", "inbox", "list", "--s"}, "--state"},
		{[]string{"geminihooks", "trigger", "batch.s"}, "batch.succeeded"},
		{[]string{"geminihooks", "completion", ""}, "bash zsh fish --log-format"},
		{[]string{"geminihooks", "--ver"}, "--version"},
	}
	for _, tt := range tests {
		var quoted []string
		for _, w := range tt.words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source " + path + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" +
			fmt.Sprint(len(tt.words)-1) + `; _geminihooks; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("completing %q: %q, want %q", tt.words, got, tt.want)
		}
	}
}

// TestEmulatorJobs makes a running emulator run each kind of job from the
// CLI and checks that the job's event reaches its callback.
func TestEmulatorJobs(t *testing.T) {
	t.Parallel()
	got := make(chan *event.Event, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if ev, err := event.Parse(body); err == nil {
			got <- ev
		}
	}))
	t.Cleanup(rcv.Close)
	emu, err := emulator.NewServer(&emulator.Config{Addr: "127.0.0.1:0", InsecureAllowHTTPLoopback: true, APIKey: "jobs-test-key"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	e := &env{getenv: func(k string) string {
		if k == "GEMINI_API_KEY" {
			return "jobs-test-key"
		}
		return ""
	}}
	tests := []struct {
		args []string
		want event.Type
	}{
		{[]string{"batch", "--outcome", "failed", "--user-metadata", "order=A-17"}, event.TypeBatchFailed},
		{[]string{"video", "--signing", "jwt"}, event.TypeVideoGenerated},
		{[]string{"interaction", "--outcome", "requires_action"}, event.TypeInteractionRequiresAction},
	}
	for _, tt := range tests {
		args := append([]string{"emulator", "jobs", "--base-url", emu.URL, "--callback", rcv.URL + "/hook", "--json"}, tt.args...)
		code, out, errs := runCLI(t, e, args...)
		if code != exitOK {
			t.Fatalf("%q: exit %d\n%s%s", args, code, out, errs)
		}
		var started struct{ Name, Kind, Outcome string }
		if err := json.Unmarshal([]byte(out), &started); err != nil {
			t.Fatalf("%q: output is not JSON: %v\n%s", args, err, out)
		}
		job, err := emu.WaitJob(t.Context(), started.Name)
		if err != nil {
			t.Fatal(err)
		}
		if string(job.Outcome) != started.Outcome {
			t.Errorf("%q: the job ended %s, the CLI said %s", args, job.Outcome, started.Outcome)
		}
		select {
		case ev := <-got:
			if ev.Type != tt.want || ev.JobID != started.Name {
				t.Errorf("%q: event %s for %s, want %s for %s", args, ev.Type, ev.JobID, tt.want, started.Name)
			}
			if tt.want == event.TypeBatchFailed && ev.UserMetadata["order"] != "A-17" {
				t.Errorf("metadata %v", ev.UserMetadata)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%q: no delivery within 30s", args)
		}
	}
	if err := emu.Idle(t.Context()); err != nil {
		t.Fatal(err)
	}
}
