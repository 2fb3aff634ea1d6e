package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
)

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "Print the version of geminihooks and the commit it was built from",
		usage:   "geminihooks version",
		help: `Prints the module version and, when the binary was built in a git
checkout, the commit and whether the work tree had uncommitted changes,
from the build information Go records in the binary. --version does the
same.`,
		example: `geminihooks version
go run ./cmd/geminihooks --version`,
		runner: func() runner { return versionCmd{} },
	}
}

// versionCmd is `geminihooks version`, and --version.
type versionCmd struct{ noFlags }

func (versionCmd) validate(_ *env, args []string) error { return noArgs(args) }

func (versionCmd) run(_ context.Context, e *env) error {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	fmt.Fprintln(e.stdout, versionLine(info))
	return nil
}

// versionLine describes a build: "geminihooks v1.2.3 (commit 0123abc,
// modified; go1.26.0)". go run and go build in a checkout give a
// pseudo-version or "(devel)"; go install of a release gives its tag.
func versionLine(info *debug.BuildInfo) string {
	if info == nil {
		return "geminihooks (unknown version: the binary has no build information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	var details []string
	if rev != "" {
		d := "commit " + rev
		if modified == "true" {
			d += ", modified"
		}
		details = append(details, d)
	}
	if info.GoVersion != "" {
		details = append(details, info.GoVersion)
	}
	if len(details) == 0 {
		return "geminihooks " + version
	}
	return fmt.Sprintf("geminihooks %s (%s)", version, strings.Join(details, "; "))
}
