package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "list every exported name")
	flag.Parse()
	counts, err := count(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "apicount:", err)
		os.Exit(1)
	}
	total := 0
	for _, dir := range slices.Sorted(maps.Keys(counts)) {
		names := counts[dir]
		total += len(names)
		fmt.Printf("%4d  %s\n", len(names), dir)
		if *verbose {
			for _, n := range names {
				fmt.Printf("        %s\n", n)
			}
		}
	}
	fmt.Printf("%4d  total\n", total)
}

// skipDir reports the directories whose packages are not public API.
func skipDir(path string) bool {
	base := filepath.Base(path)
	return base == "internal" || base == "testdata" || base == "examples" || base == "cmd" || base == "bench" ||
		(strings.HasPrefix(base, ".") && path != ".")
}

// count returns the exported names of each public package under root, by
// its directory.
func count(root string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if skipDir(path) {
			return filepath.SkipDir
		}
		names, err := exported(path)
		if err != nil {
			return err
		}
		if names != nil {
			out[filepath.ToSlash(path)] = names
		}
		return nil
	})
	return out, err
}

// exported lists the exported names of the package in dir, or nil when dir
// holds no package or a command.
func exported(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var names []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Name.Name == "main" {
			return nil, nil
		}
		names = append(names, fileNames(f)...)
	}
	slices.Sort(names)
	return names, nil
}

func fileNames(f *ast.File) []string {
	var names []string
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv == nil {
				names = append(names, d.Name.Name)
				continue
			}
			if recv := receiverType(d.Recv.List[0].Type); ast.IsExported(recv) {
				names = append(names, recv+"."+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						names = append(names, s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							names = append(names, n.Name)
						}
					}
				}
			}
		}
	}
	return names
}

// receiverType is the name of a method's receiver type: T, *T, T[P] or *T[P].
func receiverType(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return ""
		}
	}
}
