package geminihooks_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/geminihooks/geminihooks"

// importRule says which of our packages a package must not depend on, even
// indirectly: the import rules of docs/ARCHITECTURE.md.
type importRule struct {
	pkg    string // import path
	why    string
	forbid func(dep string) bool
}

func ours(dep string) bool { return dep == module || strings.HasPrefix(dep, module+"/") }

func under(path string) func(string) bool {
	return func(dep string) bool { return dep == path || strings.HasPrefix(dep, path+"/") }
}

var importRules = []importRule{
	{module + "/signing", "signing is a leaf: it imports nothing of ours", ours},
	{module + "/event", "event is a leaf: it imports nothing of ours", ours},
	{module + "/listener", "a receiver needs no API key, genai or client code", func(dep string) bool { return dep == module }},
	{module + "/listener", "a receiver links no emulator", under(module + "/emulator")},
	{module, "an app that only launches jobs links no receiver", under(module + "/listener")},
	{module + "/listener", "the listener reports through its Observer; Prometheus stays in metrics", under("github.com/prometheus")},
	{module + "/listener", "the console and metrics observe the listener, not the other way round", func(dep string) bool {
		return under(module+"/console")(dep) || under(module+"/metrics")(dep)
	}},
	{module + "/inbox", "the inbox contract links no metrics library", under("github.com/prometheus")},
	{module + "/ledger", "ledger is a leaf: it imports nothing of ours", ours},
	{module, "an app that only launches jobs records them in a ledger and links no inbox", under(module + "/inbox")},
	{module + "/reconcile", "reconcile meets the listener only through the inbox and the ledger", under(module + "/listener")},
}

// violations returns, for each rule, the forbidden packages among deps,
// which maps an import path to its transitive dependencies.
func violations(deps map[string][]string) []string {
	var out []string
	for _, r := range importRules {
		for _, d := range deps[r.pkg] {
			if r.forbid(d) {
				out = append(out, r.pkg+" depends on "+d+": "+r.why)
			}
		}
	}
	return out
}

// TestImportRules checks the import rules against what the go command
// resolves, so a new import that breaks one fails here instead of slipping
// into a release.
func TestImportRules(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list packages with")
	}
	var pkgs []string
	for _, r := range importRules {
		if !slices.Contains(pkgs, r.pkg) {
			pkgs = append(pkgs, r.pkg)
		}
	}
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"list", "-json=ImportPath,Deps"}, pkgs...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		deps[p.ImportPath] = p.Deps
	}
	// A rule about a package go list did not report, or a dependency list
	// read wrongly, would pass without checking anything.
	for _, p := range pkgs {
		if len(deps[p]) == 0 {
			t.Fatalf("go list reported no dependencies for %s", p)
		}
	}
	if !slices.Contains(deps[module+"/listener"], module+"/signing") {
		t.Fatalf("listener's dependencies lack signing: %v", deps[module+"/listener"])
	}
	for _, v := range violations(deps) {
		t.Error(v)
	}
}

// The rules catch a forbidden dependency, direct or not, and let allowed
// ones through.
func TestImportRulesCatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		deps map[string][]string
		want int
	}{
		{"allowed", map[string][]string{
			module + "/signing":   {"crypto/hmac", "github.com/golang-jwt/jwt/v5"},
			module + "/listener":  {module + "/signing", module + "/event", module + "/inbox", module + "/ledger"},
			module:                {module + "/event", module + "/ledger"},
			module + "/reconcile": {module, module + "/event", module + "/inbox", module + "/ledger"},
		}, 0},
		{"leaf imports ours", map[string][]string{module + "/event": {module + "/inbox"}}, 1},
		{"listener links the client", map[string][]string{module + "/listener": {module}}, 1},
		{"listener links the emulator's sender", map[string][]string{module + "/listener": {module + "/emulator/internal/delivery"}}, 1},
		{"client links the listener", map[string][]string{module: {module + "/listener"}}, 1},
		{"a prefix is not a package", map[string][]string{module: {module + "/listenerx"}}, 0},
		{"listener links Prometheus", map[string][]string{module + "/listener": {"github.com/prometheus/client_golang/prometheus"}}, 1},
		{"listener links the console", map[string][]string{module + "/listener": {module + "/console"}}, 1},
		{"client links the inbox", map[string][]string{module: {module + "/inbox"}}, 1},
		{"reconcile links the listener", map[string][]string{module + "/reconcile": {module + "/listener"}}, 1},
		{"ledger imports ours", map[string][]string{module + "/ledger": {module + "/event"}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := violations(tc.deps); len(got) != tc.want {
				t.Errorf("violations = %q; want %d", got, tc.want)
			}
		})
	}
}
