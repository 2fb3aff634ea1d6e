package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Exit codes shared by every command. verify adds its own (see verify.go).
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed: network, server, I/O
	exitUsage   = 2 // bad flags or arguments; nothing was attempted
)

// env is what a command may touch of the outside world. main passes the real
// process's; tests pass their own, so commands never read os.* directly.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
	// interactive reports whether stdout is a terminal a human watches.
	interactive bool
	// logFormat is --log-format: "text" (or "") or "json", for status lines
	// and -v logs on stderr.
	logFormat string
}

// status writes a status line to stderr: msg as it is, or with
// --log-format json a JSON object whose msg is msg and whose other fields
// are args, as slog takes them.
func (e *env) status(msg string, args ...any) {
	if e.logFormat == "json" {
		e.logger(slog.LevelInfo).Info(msg, args...)
		return
	}
	fmt.Fprintln(e.stderr, msg)
}

// logger returns a logger on stderr in the --log-format, from level up.
func (e *env) logger(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if e.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// logFormatFlag registers --log-format on fs, setting e.logFormat.
func (e *env) logFormatFlag(fs *flag.FlagSet) {
	fs.Func("log-format", "Status lines and -v logs on stderr as `FORMAT`: text or json (default text)", func(v string) error {
		if v != "text" && v != "json" {
			return errors.New("want text or json")
		}
		e.logFormat = v
		return nil
	})
}

// A command is one geminihooks command, or one subcommand of a group. The
// text fields make its --help; usage is the synopsis line.
type command struct {
	name    string // as typed after geminihooks: "listen", "webhooks create"
	summary string
	usage   string
	help    string
	example string
	// runner makes a fresh run of the command; nil for a command that is
	// only its subcommands.
	runner func() runner
	// group, when set, makes a fresh run of the command's subcommands.
	group func() *group
	// args names a subcommand's positional arguments: "" for none, "ID"
	// for one, "ID..." for one or more. want is what the usage error says
	// is wanted when they are missing or too many (default: args).
	args, want string
	// words are the fixed positional arguments a shell may complete.
	words []string
}

// A runner is one run of a command, whose flags are its fields.
type runner interface {
	// flags registers the fields on fs.
	flags(fs *flag.FlagSet)
	// validate checks the flags and positional arguments once they are
	// parsed, before anything is attempted; a usagef error exits 2.
	validate(e *env, args []string) error
	// run does the work; exit says how its error becomes the exit status.
	run(ctx context.Context, e *env) error
}

// noFlags is embedded by runners that have no flags of their own.
type noFlags struct{}

func (noFlags) flags(*flag.FlagSet) {}

// A group is one run of a command's subcommands (webhooks, inbox, emulator
// jobs) and of the flags they share, which may come before the
// subcommand's name (webhooks --json list) or after it.
type group struct {
	shared sharedFlags
	// subs' runners work with shared's values.
	subs []*command
}

// sharedFlags are the flags a group's subcommands share.
type sharedFlags interface {
	flags(fs *flag.FlagSet)
	// validate checks them after the subcommand's arguments are counted
	// and before its own flags are checked.
	validate(e *env) error
	// open makes what the subcommands work with (an API client, an open
	// inbox) and returns the context to run in and what releases it.
	open(ctx context.Context, e *env) (context.Context, func(), error)
}

// noShared is the sharedFlags of a group whose subcommands share none.
type noShared struct{ noFlags }

func (noShared) validate(*env) error { return nil }

func (noShared) open(ctx context.Context, _ *env) (context.Context, func(), error) {
	return ctx, func() {}, nil
}

// subcommand describes one subcommand of a group, named as typed after
// geminihooks ("webhooks get"); r is its runner, bound to the group's
// shared flags.
func subcommand(name, args, summary string, r runner) *command {
	return &command{name: name, args: args, summary: summary, runner: func() runner { return r }}
}

// find returns the subcommand typed as word, or nil.
func (g *group) find(word string) *command {
	for _, s := range g.subs {
		if s.word() == word {
			return s
		}
	}
	return nil
}

// word is the last word of the command's name: a subcommand as typed.
func (c *command) word() string {
	return c.name[strings.LastIndexByte(c.name, ' ')+1:]
}

func commands() []*command {
	return []*command{
		demoCommand(),
		listenCommand(),
		triggerCommand(),
		verifyCommand(),
		webhooksCommand(),
		inboxCommand(),
		emulatorCommand(),
		versionCommand(),
		completionCommand(),
	}
}

// run is the whole program behind main, testable in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(ctx, &env{
		stdin:       stdin,
		stdout:      stdout,
		stderr:      stderr,
		getenv:      os.Getenv,
		now:         time.Now,
		interactive: isTerminal(stdout) && os.Getenv("TERM") != "dumb",
	}, args)
}

func runEnv(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printMainUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "--version", "-version":
		return versionCommand().exec(ctx, e, args[1:])
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := findCommand(args[1]); c != nil {
				return c.exec(ctx, e, []string{"--help"})
			}
			fmt.Fprintf(e.stderr, "geminihooks: unknown command %q\n", args[1])
			return exitUsage
		}
		printMainUsage(e.stdout)
		return exitOK
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "geminihooks: unknown command %q\nRun 'geminihooks help' for the list of commands.\n", name)
		return exitUsage
	}
	return c.exec(ctx, e, args[1:])
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// exec runs the command with the arguments that follow its name and
// returns the exit status. A command with subcommands hands them over,
// unless it has a runner of its own and args do not start with one.
func (c *command) exec(ctx context.Context, e *env, args []string) int {
	if c.group != nil {
		if g := c.group(); c.runner == nil || len(args) > 0 && g.find(args[0]) != nil {
			return c.dispatch(ctx, e, g, args)
		}
	}
	return c.execRunner(ctx, e, c.runner(), args)
}

// execRunner parses args into r's flags, validates, and runs.
func (c *command) execRunner(ctx context.Context, e *env, r runner, args []string) int {
	fs := c.newFlagSet()
	r.flags(fs)
	pos, code, stop := c.parse(e, fs, args)
	if stop {
		return code
	}
	if err := r.validate(e, pos); err != nil {
		return c.exit(e, err)
	}
	return c.exit(e, r.run(ctx, e))
}

// dispatch parses the group's shared flags up to the subcommand's name,
// then runs the subcommand with the rest.
func (c *command) dispatch(ctx context.Context, e *env, g *group, args []string) int {
	fs := c.newFlagSet()
	g.shared.flags(fs)
	e.logFormatFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printHelp(e.stdout, fs)
			return exitOK
		}
		return c.usageError(e, "%v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return c.usageError(e, "missing subcommand")
	}
	sub := g.find(rest[0])
	if sub == nil {
		return c.usageError(e, "unknown subcommand %q", printable(rest[0]))
	}
	return sub.execRunner(ctx, e, &subRunner{sub: sub, shared: g.shared, own: sub.runner()}, rest[1:])
}

// subRunner runs a subcommand with its group's shared flags: its
// arguments are counted first, then the shared flags checked, then its own.
type subRunner struct {
	sub    *command
	shared sharedFlags
	own    runner
}

func (r *subRunner) flags(fs *flag.FlagSet) {
	r.shared.flags(fs)
	r.own.flags(fs)
}

func (r *subRunner) validate(e *env, args []string) error {
	if err := r.sub.checkArgs(args); err != nil {
		return err
	}
	if err := r.shared.validate(e); err != nil {
		return err
	}
	return r.own.validate(e, args)
}

func (r *subRunner) run(ctx context.Context, e *env) error {
	ctx, release, err := r.shared.open(ctx, e)
	if err != nil {
		return err
	}
	defer release()
	return r.own.run(ctx, e)
}

// checkArgs counts a subcommand's positional arguments against c.args.
func (c *command) checkArgs(args []string) error {
	switch {
	case c.args == "":
		return noArgs(args)
	case len(args) == 0, len(args) > 1 && !strings.HasSuffix(c.args, "..."):
		return usagef("want %s", cmp.Or(c.want, c.args))
	}
	return nil
}

// noArgs is the validate check of a command that takes no positional
// arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", printable(args[0]))
	}
	return nil
}

// oneArg returns the one positional argument of a command, or a usage
// error that says want.
func oneArg(args []string, want string) (string, error) {
	if len(args) != 1 {
		return "", usagef("%s", want)
	}
	return args[0], nil
}

// usageError is an error in the user's flags or arguments (exit 2).
type usageError string

func (u usageError) Error() string { return string(u) }

func usagef(format string, a ...any) error { return usageError(fmt.Sprintf(format, a...)) }

// exitCode is an exit status whose reason the command has printed itself:
// verify's failed checks, demo's problems, an endpoint's refusal.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// exit reports err, from validate or run, and returns the exit status: 0
// for nil, 2 for a usage error, the code of an exitCode, 1 otherwise.
func (c *command) exit(e *env, err error) int {
	if err == nil {
		return exitOK
	}
	if code, ok := errors.AsType[exitCode](err); ok {
		return int(code)
	}
	if _, ok := errors.AsType[usageError](err); ok {
		return c.usageError(e, "%v", err)
	}
	return c.fail(e, err)
}

func printMainUsage(w io.Writer) {
	fmt.Fprint(w, `geminihooks: Gemini API webhooks from the command line.

Usage:
  geminihooks COMMAND [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, capitalize(c.summary))
	}
	fmt.Fprint(w, `
Run 'geminihooks COMMAND --help' for a command's flags and an example.
Exit status: 0 on success, 1 when the command failed, 2 for bad flags or
arguments; verify gives each failed check its own code (see its help).

Example:
  go run ./cmd/geminihooks demo
`)
}

// newFlagSet returns a flag set that reports errors to the caller instead
// of printing them, so parse can route help to stdout and errors to stderr.
func (c *command) newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// printHelp writes the command's full --help text.
func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n", c.usage, strings.TrimSpace(c.help))
	if fs != nil {
		if flags := flagHelp(fs); flags != "" {
			fmt.Fprintf(w, "\nFlags:\n%s", flags)
		}
	}
	fmt.Fprintf(w, "\nExample:\n%s\n", indent(strings.TrimSpace(c.example), "  "))
}

// parse parses flags and positional arguments in any order, as people type
// them (`trigger batch.succeeded --to URL`). It returns the positional
// arguments, or an exit code when the command must stop now: help was asked
// for (exitOK) or the flags were wrong (exitUsage). A bare "--" ends flags.
func (c *command) parse(e *env, fs *flag.FlagSet, args []string) (pos []string, code int, stop bool) {
	if fs.Lookup("log-format") == nil {
		e.logFormatFlag(fs)
	}
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printHelp(e.stdout, fs)
			return nil, exitOK, true
		}
		if err != nil {
			return nil, c.usageError(e, "%v", err), true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError reports a usage problem on stderr and returns exitUsage.
func (c *command) usageError(e *env, format string, a ...any) int {
	fmt.Fprintf(e.stderr, "geminihooks %s: %s\nRun 'geminihooks %s --help' for usage.\n",
		c.name, fmt.Sprintf(format, a...), c.name)
	return exitUsage
}

// fail reports a runtime failure on stderr and returns exitFailure.
func (c *command) fail(e *env, err error) int {
	// Library errors carry their own "geminihooks: " prefix; one is enough.
	// An error may quote a server's answer: escape what a terminal would
	// act on.
	// The emulator's errors start "emulator: ", which the line's own
	// "geminihooks emulator:" says already, and a library error wrapped in
	// another repeats the prefix inside it.
	msg := strings.TrimPrefix(err.Error(), "geminihooks: ")
	msg = strings.TrimPrefix(msg, strings.Fields(c.name)[0]+": ")
	msg = escapeControl(strings.ReplaceAll(msg, ": geminihooks: ", ": "))
	fmt.Fprintf(e.stderr, "geminihooks %s: %s\n", c.name, msg)
	return exitFailure
}

// flagHelp lists fs's flags as people type them (--flag, though -flag
// works too), each with a placeholder in capitals, so that it cannot be
// taken for a default, and a description that starts with a capital.
func flagHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(&b, " %s", placeholder(name))
		}
		fmt.Fprintf(&b, "\n    \t%s", capitalize(usage))
		switch f.DefValue {
		case "", "0", "false", "0s", "[]":
		default:
			_, isBool := f.Value.(interface{ IsBoolFlag() bool })
			switch {
			case isBool:
			case fmt.Sprintf("%T", f.Value) == "*flag.stringValue":
				fmt.Fprintf(&b, " (default %q)", f.DefValue)
			default:
				fmt.Fprintf(&b, " (default %s)", f.DefValue)
			}
		}
		b.WriteString("\n")
	})
	return b.String()
}

// placeholder turns flag.UnquoteUsage's name into a placeholder: a type
// name ("string", "duration") becomes a word for what to type.
func placeholder(name string) string {
	switch name {
	case "string", "value":
		return "TEXT"
	case "int", "uint", "int64", "uint64":
		return "N"
	case "float":
		return "NUMBER"
	}
	return strings.ToUpper(name)
}

// capitalize upper-cases the first letter of a description.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// wrap joins words into lines of at most width columns.
func wrap(words []string, width int) string {
	var b strings.Builder
	col := 0
	for i, w := range words {
		if i > 0 {
			if col+1+len(w) > width {
				b.WriteString("\n")
				col = 0
			} else {
				b.WriteString(" ")
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// secretsFlag is a repeatable flag whose values are secrets: its String
// never shows them, so they stay out of --help defaults and error text.
type secretsFlag []string

func (s *secretsFlag) String() string { return "" }

func (s *secretsFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return errors.New("empty secret")
	}
	*s = append(*s, v)
	return nil
}

// secretsFromEnv splits GEMINI_WEBHOOK_SECRET-style values on commas.
func secretsFromEnv(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// metadataFlag collects repeatable k=v pairs into user_metadata.
type metadataFlag map[string]any

func (m metadataFlag) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (m metadataFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return errors.New("want key=value")
	}
	if _, dup := m[k]; dup {
		return fmt.Errorf("key %q given twice", k)
	}
	m[k] = val
	return nil
}

// isTerminal reports whether f is a character device, such as a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
