package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

func completionCommand() *command {
	return &command{
		name:    "completion",
		summary: "Print a shell completion script for bash, zsh or fish",
		usage:   "geminihooks completion bash|zsh|fish",
		help: `Prints a script that completes geminihooks's commands, subcommands,
flags and event types in the named shell. Load it in the current shell, or
save it where the shell looks for completions.`,
		example: `source <(geminihooks completion bash)     # bash: add to ~/.bashrc
source <(geminihooks completion zsh)      # zsh: add to ~/.zshrc
geminihooks completion fish > ~/.config/fish/completions/geminihooks.fish`,
		words:  []string{"bash", "zsh", "fish"},
		runner: func() runner { return &completionCmd{} },
	}
}

// completionScripts are the shells completion writes a script for.
var completionScripts = map[string]func([]completionSpec) string{
	"bash": bashCompletion,
	"zsh":  zshCompletion,
	"fish": fishCompletion,
}

// completionCmd is `geminihooks completion SHELL`.
type completionCmd struct {
	noFlags
	shell string
}

func (c *completionCmd) validate(_ *env, args []string) error {
	shell, err := oneArg(args, "want one shell: bash, zsh or fish")
	if err != nil {
		return err
	}
	if completionScripts[shell] == nil {
		return usagef("unknown shell %q; want bash, zsh or fish", printable(shell))
	}
	c.shell = shell
	return nil
}

func (c *completionCmd) run(ctx context.Context, e *env) error {
	io.WriteString(e.stdout, completionScripts[c.shell](completionSpecs(ctx)))
	return nil
}

// completionSpec is what may follow one command path ("", "listen",
// "webhooks create"): words (subcommands or fixed arguments) and flags.
type completionSpec struct {
	path    string
	words   []string
	summary map[string]string // a word's one-line description, if it has one
	flags   []string
}

var flagLineRe = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`)

// helpFlags reads a command's flags from its own --help, so the scripts
// always match the flags the commands define.
func helpFlags(ctx context.Context, run func(context.Context, *env, []string) int, args ...string) []string {
	var out bytes.Buffer
	run(ctx, &env{stdout: &out, stderr: io.Discard, stdin: strings.NewReader(""), getenv: func(string) string { return "" }},
		append(args, "--help"))
	var flags []string
	for _, m := range flagLineRe.FindAllStringSubmatch(out.String(), -1) {
		flags = append(flags, "--"+m[1])
	}
	return flags
}

// completionSpecs lists every command path with what may follow it.
func completionSpecs(ctx context.Context) []completionSpec {
	root := completionSpec{summary: map[string]string{}}
	var specs []completionSpec
	for _, c := range commands() {
		root.words = append(root.words, c.name)
		root.summary[c.name] = capitalize(c.summary)
		s := completionSpec{path: c.name, words: c.words, flags: helpFlags(ctx, c.exec)}
		if c.group != nil {
			s.summary = map[string]string{}
			for _, sub := range c.group().subs {
				s.words = append(s.words, sub.word())
				s.summary[sub.word()] = capitalize(sub.summary)
				specs = append(specs, completionSpec{path: sub.name, words: sub.words, flags: helpFlags(ctx, c.exec, sub.word())})
			}
		}
		specs = append(specs, s)
	}
	root.words = append(root.words, "help")
	root.summary["help"] = "Show the commands, or one command's help"
	specs = append(specs, completionSpec{path: "help", words: root.words[:len(root.words)-1]})
	root.flags = []string{"--help", "--version"}
	return append([]completionSpec{root}, specs...)
}

// bashCompletion finds the command path among the words typed so far
// (skipping flags and their values), then offers what may follow it.
func bashCompletion(specs []completionSpec) string {
	var b strings.Builder
	b.WriteString(`# bash completion for geminihooks. Load it with: source <(geminihooks completion bash)
_geminihooks() {
	local cur="${COMP_WORDS[COMP_CWORD]}" path="" next w i words
	for ((i = 1; i < COMP_CWORD; i++)); do
		w="${COMP_WORDS[i]}"
		next="${path:+$path }$w"
		case "$next" in
`)
	var paths []string
	for _, s := range specs[1:] {
		paths = append(paths, fmt.Sprintf("%q", s.path))
	}
	fmt.Fprintf(&b, "\t\t%s) path=\"$next\" ;;\n", strings.Join(paths, "|"))
	b.WriteString(`		esac
	done
	case "$path" in
`)
	for _, s := range specs {
		fmt.Fprintf(&b, "\t%q) words=%q ;;\n", s.path, strings.Join(append(slices.Clone(s.words), s.flags...), " "))
	}
	b.WriteString(`	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _geminihooks geminihooks
`)
	return b.String()
}

// zshCompletion runs the bash script through zsh's bashcompinit.
func zshCompletion(specs []completionSpec) string {
	return "#compdef geminihooks\n# zsh completion for geminihooks. Load it with: source <(geminihooks completion zsh)\n" +
		"autoload -U +X bashcompinit && bashcompinit\n" +
		strings.TrimPrefix(bashCompletion(specs), "# bash completion for geminihooks. Load it with: source <(geminihooks completion bash)\n")
}

// fishCompletion gives each command path a condition on the path typed so
// far, found as in bash.
func fishCompletion(specs []completionSpec) string {
	var b strings.Builder
	b.WriteString(`# fish completion for geminihooks. Save it as ~/.config/fish/completions/geminihooks.fish
function __geminihooks_path
    set -l path
    for w in (commandline -opc)[2..-1]
        set -l next (string join ' ' $path $w)
        if contains -- "$next"`)
	for _, s := range specs[1:] {
		fmt.Fprintf(&b, " '%s'", s.path)
	}
	b.WriteString(`
            set path $path $w
        end
    end
    if set -q path[1]
        string join ' ' $path
    else
        echo -
    end
end
`)
	for _, s := range specs {
		cond := s.path
		if cond == "" {
			cond = "-"
		}
		for _, w := range s.words {
			fmt.Fprintf(&b, "complete -c geminihooks -n 'test (__geminihooks_path) = \"%s\"' -f -a %s", cond, w)
			if d := s.summary[w]; d != "" {
				fmt.Fprintf(&b, " -d '%s'", strings.ReplaceAll(d, "'", `\'`))
			}
			b.WriteString("\n")
		}
		for _, f := range s.flags {
			fmt.Fprintf(&b, "complete -c geminihooks -n 'test (__geminihooks_path) = \"%s\"' -l %s\n", cond, strings.TrimPrefix(f, "--"))
		}
	}
	return b.String()
}
