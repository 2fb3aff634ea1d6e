package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCount(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(path, src string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/a.go", `package a

const (
	Exported = 1
	hidden   = 2
)

var A, b = 1, 2

type T struct{ Field int }

type G[P any] struct{}

type unexported struct{}

func F()                        {}
func f()                        {}
func (T) M()                    {}
func (*T) m()                   {}
func (G[P]) N()                 {}
func (unexported) Invisible()   {}
`)
	write("a/a_test.go", "package a\n\nfunc TestOnly() {}\n")
	write("a/internal/x/x.go", "package x\n\nfunc Hidden() {}\n")
	write("cmd/tool/main.go", "package main\n\nfunc Exported() {}\n")
	got, err := count(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		filepath.ToSlash(root):                     nil,
		filepath.ToSlash(filepath.Join(root, "a")): {"A", "Exported", "F", "G", "G.N", "T", "T.M"},
	}
	for k, v := range got {
		if len(v) == 0 {
			delete(got, k)
		}
	}
	delete(want, filepath.ToSlash(root))
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("count (-want +got):\n%s", d)
	}
}
