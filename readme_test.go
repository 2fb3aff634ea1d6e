package geminihooks_test

import (
	"os"
	"regexp"
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
