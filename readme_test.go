package geminihooks_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// snippetRe finds a README code block preceded by a marker naming the file it
// is copied from.
var snippetRe = regexp.MustCompile("(?s)<!-- snippet: (\\S+) -->\\s*```go\n(.*?)```")

// TestREADMESnippets keeps the README honest: every Go block marked as a
// snippet must be a copy of lines in the named file, which the build compiles
// and the tests run. Indentation may differ, and a "// ..." line marks lines
// left out.
func TestREADMESnippets(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	matches := snippetRe.FindAllStringSubmatch(string(readme), -1)
	if len(matches) == 0 {
		t.Fatal("README.md has no marked snippets")
	}
	for _, m := range matches {
		file, block := m[1], m[2]
		src, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("snippet source: %v", err)
			continue
		}
		if missing := findSnippet(trimLines(string(src)), trimLines(block)); missing != "" {
			t.Errorf("README snippet from %s is not in that file; first line not found in order:\n%s", file, missing)
		}
	}
}

// findSnippet reports the first snippet line that does not follow its
// predecessor in src, or "" when every run of lines between elisions appears
// contiguously and in order.
func findSnippet(src, snippet []string) string {
	pos := 0
	var run []string
	flush := func() string {
		if len(run) == 0 {
			return ""
		}
		for i := pos; i+len(run) <= len(src); i++ {
			if equalLines(src[i:i+len(run)], run) {
				pos = i + len(run)
				run = nil
				return ""
			}
		}
		return run[0]
	}
	for _, l := range snippet {
		if l == "// ..." {
			if miss := flush(); miss != "" {
				return miss
			}
			continue
		}
		run = append(run, l)
	}
	return flush()
}

func trimLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func equalLines(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// snippetImports are the packages a README snippet may use, by the name it
// uses them under: the standard library, this module's public packages, and
// the modules its API is built on.
var snippetImports = map[string]string{
	"context": "context", "errors": "errors", "fmt": "fmt", "io": "io", "log": "log", "slog": "log/slog",
	"http": "net/http", "httptest": "net/http/httptest", "os": "os", "strings": "strings", "time": "time",
	"json": "encoding/json", "net": "net", "signal": "os/signal", "syscall": "syscall",
	"geminihooks": module, "event": module + "/event", "listener": module + "/listener",
	"signing": module + "/signing", "inbox": module + "/inbox", "pginbox": module + "/inbox/pginbox",
	"boltinbox": module + "/inbox/boltinbox", "reconcile": module + "/reconcile", "emulator": module + "/emulator",
	"ledger":  module + "/ledger",
	"console": module + "/console", "metrics": module + "/metrics",
	"genai": "google.golang.org/genai", "pgx": "github.com/jackc/pgx/v5", "pgxpool": "github.com/jackc/pgx/v5/pgxpool",
}

// snippetSource turns the README snippets copied from one file into a Go
// file a user could paste into package main: the snippets as shown, the
// imports their package names call for, and an empty main if they have
// none. It fails for a snippet that is not whole declarations.
func snippetSource(file string, blocks []string) (string, error) {
	body := strings.Join(blocks, "\n\n")
	for _, b := range blocks {
		if slices.Contains(trimLines(b), "// ...") {
			return "", fmt.Errorf("a snippet from %s leaves lines out (// ...), so it cannot be pasted", file)
		}
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, "package main\n\n"+body, 0)
	if err != nil {
		return "", fmt.Errorf("snippets from %s are not whole Go declarations: %v", file, err)
	}
	unresolved := map[string]bool{}
	for _, id := range f.Unresolved {
		unresolved[id.Name] = true
	}
	imports := map[string]bool{}
	var unknown []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && unresolved[id.Name] {
			if path, ok := snippetImports[id.Name]; ok {
				imports[path] = true
			} else if !slices.Contains(unknown, id.Name) {
				unknown = append(unknown, id.Name)
			}
		}
		return true
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("snippets from %s use %v, which is neither a package in snippetImports nor declared in them", file, unknown)
	}
	var src strings.Builder
	src.WriteString("package main\n\nimport (\n")
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range imports {
			if !yield(p) {
				return
			}
		}
	}) {
		fmt.Fprintf(&src, "\t%q\n", p)
	}
	src.WriteString(")\n\n" + body + "\n")
	if f.Scope.Lookup("main") == nil {
		src.WriteString("\nfunc main() {}\n")
	}
	return src.String(), nil
}

// TestREADMESnippetsBuild builds the README's snippets as a user would: in a
// module of their own that requires this one, with nothing but the snippets
// and their imports. A snippet that leans on an example's private helpers
// (its set-up, its log, its config) fails here.
func TestREADMESnippetsBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a scratch module")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string][]string{}
	var files []string
	for _, m := range snippetRe.FindAllStringSubmatch(string(readme), -1) {
		if byFile[m[1]] == nil {
			files = append(files, m[1])
		}
		byFile[m[1]] = append(byFile[m[1]], m[2])
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A replace points at this checkout. go.mod and go.sum are this
	// module's, requirements and all, so the build needs nothing the
	// module cache does not already hold after this module's own tests:
	// with only the one requirement, go would load the go.mod of every
	// module in the dependencies' graph, which a fresh cache lacks.
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	_, reqs, ok := strings.Cut(string(mod), "\n")
	if !ok || !strings.HasPrefix(string(mod), "module "+module+"\n") {
		t.Fatalf("go.mod does not begin with module %s", module)
	}
	write("go.mod", "module example.com/readme\n"+reqs+"\nrequire "+module+" v0.0.0-00010101000000-000000000000\n\nreplace "+module+" => "+root+"\n")
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))
	pkgs := map[string]string{} // package directory -> README source file
	for i, file := range files {
		src, err := snippetSource(file, byFile[file])
		if err != nil {
			t.Error(err)
			continue
		}
		pkg := fmt.Sprintf("snippet%02d", i+1)
		pkgs[pkg] = file
		write(filepath.Join(pkg, "main.go"), src)
	}
	if t.Failed() {
		return
	}
	cmd := exec.CommandContext(t.Context(), gobin, "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		report := string(out)
		for pkg, file := range pkgs {
			report = strings.ReplaceAll(report, pkg+"/main.go", "README snippets from "+file)
		}
		t.Errorf("the README's snippets do not build in a module of their own (go vet: %v):\n%s", err, report)
	}
}
