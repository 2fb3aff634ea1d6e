package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
)

// inboxSub is one `geminihooks inbox` subcommand.
type inboxSub struct {
	name, args, summary string
	// minArgs is how many IDs it needs at least; maxArgs -1 means any.
	minArgs, maxArgs int
	flags            func(fs *flag.FlagSet) func(ctx context.Context, r *inboxRun, pos []string) error
}

// inboxRun is what a subcommand's action works with.
type inboxRun struct {
	e    *env
	ib   inbox.Admin
	json bool
}

func inboxSubs() []*inboxSub {
	return []*inboxSub{
		{name: "list", summary: "list stored events, newest first, a page at a time", flags: func(fs *flag.FlagSet) func(context.Context, *inboxRun, []string) error {
			state := fs.String("state", "", "only events in this `state`: pending, claimed, done or dead")
			typ := fs.String("type", "", "only events of this `type`")
			job := fs.String("job", "", "only events of this job `ID` (data.id)")
			id := fs.String("id", "", "only webhook-ids containing `TEXT`")
			limit := fs.Int("limit", 50, "events per page, at most 500")
			after := fs.String("after", "", "the page after this `CURSOR` (printed at the end of a full page)")
			return func(ctx context.Context, r *inboxRun, _ []string) error {
				s := inbox.State(*state)
				switch s {
				case "", inbox.StatePending, inbox.StateClaimed, inbox.StateDone, inbox.StateDead:
				default:
					return usageErr("--state must be pending, claimed, done or dead")
				}
				if *limit < 1 || *limit > inbox.MaxPage {
					return usageErr("--limit must be between 1 and 500")
				}
				p, err := r.ib.List(ctx, inbox.Filter{State: s, Type: *typ, JobID: *job, ID: *id}, *after, *limit)
				if errors.Is(err, inbox.ErrBadCursor) {
					return usageErr("--after is not a cursor this inbox printed")
				}
				if err != nil {
					return err
				}
				if err := r.print(p.Messages); err != nil {
					return err
				}
				if p.Next != "" {
					fmt.Fprintf(r.e.stderr, "more: --after %s\n", p.Next)
				}
				return nil
			}
		}},
		{name: "show", args: "ID", minArgs: 1, maxArgs: 1, summary: "show one event: state, attempts, last error and body", flags: func(fs *flag.FlagSet) func(context.Context, *inboxRun, []string) error {
			return func(ctx context.Context, r *inboxRun, pos []string) error {
				m, err := r.ib.Get(ctx, pos[0])
				if err != nil {
					return err
				}
				if r.json {
					return r.print([]*inbox.Message{m})
				}
				r.show(m)
				return nil
			}
		}},
		{name: "dead", summary: "list dead letters, newest first", flags: func(fs *flag.FlagSet) func(context.Context, *inboxRun, []string) error {
			limit := fs.Int("limit", 100, "at most this many, at most 500")
			return func(ctx context.Context, r *inboxRun, _ []string) error {
				if *limit < 1 || *limit > inbox.MaxPage {
					return usageErr("--limit must be between 1 and 500")
				}
				p, err := r.ib.List(ctx, inbox.Filter{State: inbox.StateDead}, "", *limit)
				if err != nil {
					return err
				}
				return r.print(p.Messages)
			}
		}},
		{name: "replay", args: "ID...", minArgs: 1, maxArgs: -1, summary: "queue dead letters again, attempts reset; the next listen runs them", flags: func(fs *flag.FlagSet) func(context.Context, *inboxRun, []string) error {
			return func(ctx context.Context, r *inboxRun, pos []string) error {
				var errs []error
				for _, id := range pos {
					err := r.ib.Requeue(ctx, id, nil)
					if errors.Is(err, inbox.ErrNoBody) {
						err = fmt.Errorf("%s was handled, and the inbox keeps no body for handled events: replay it from the console of the listen that received it", printable(id))
					}
					if err != nil {
						errs = append(errs, err)
						continue
					}
					if r.json {
						line, _ := json.Marshal(map[string]string{"replayed": id})
						fmt.Fprintf(r.e.stdout, "%s\n", line)
					} else {
						fmt.Fprintf(r.e.stdout, "replayed %s\n", printable(id))
					}
				}
				return errors.Join(errs...)
			}
		}},
	}
}

func inboxCommand() *command {
	subs := inboxSubs()
	var lines []string
	for _, s := range subs {
		lines = append(lines, fmt.Sprintf("  %-7s %-6s %s", s.name, s.args, s.summary))
	}
	c := &command{
		name:    "inbox",
		summary: "inspect stored events and replay dead letters (list, show, dead, replay)",
		usage:   "geminihooks inbox SUBCOMMAND [--inbox FILE|postgres://...] [--json] [flags] [ID...]",
		help: `Reads the inbox a listener stores deliveries in: the bbolt file of
'geminihooks listen' (the default, ` + defaultInboxFile + `), or a PostgreSQL
inbox (pginbox) given as a postgres:// URL. A bbolt file can be opened by
one process at a time: stop the listen first, or use its --console. Output
is a table, or one JSON object per event with --json.

Subcommands:
` + strings.Join(lines, "\n") + `

Run 'geminihooks inbox SUBCOMMAND --help' for a subcommand's flags.`,
		example: `geminihooks inbox dead
geminihooks inbox show wh_01JH...
geminihooks inbox replay wh_01JH...
geminihooks inbox list --inbox postgres://app@db/app --state pending --json`,
	}
	c.run = func(ctx context.Context, e *env, args []string) int {
		common := c.newFlagSet()
		src := registerInboxFlags(common)
		if err := common.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.printHelp(e.stdout, common)
				return exitOK
			}
			return c.usageError(e, "%v", err)
		}
		rest := common.Args()
		if len(rest) == 0 {
			return c.usageError(e, "missing subcommand")
		}
		var sub *inboxSub
		for _, s := range subs {
			if s.name == rest[0] {
				sub = s
			}
		}
		if sub == nil {
			return c.usageError(e, "unknown subcommand %q", printable(rest[0]))
		}
		sc := &command{
			name:    "inbox " + sub.name,
			usage:   strings.TrimSpace("geminihooks inbox " + sub.name + " [--inbox FILE|postgres://...] [--json] [flags] " + sub.args),
			help:    sub.summary + ".",
			example: "geminihooks inbox " + sub.name + " " + strings.ReplaceAll(sub.args, "ID...", "ID"),
		}
		fs := sc.newFlagSet()
		src.register(fs)
		action := sub.flags(fs)
		pos, code, stop := sc.parse(e, fs, rest[1:])
		if stop {
			return code
		}
		if len(pos) < sub.minArgs || (sub.maxArgs >= 0 && len(pos) > sub.maxArgs) {
			if sub.minArgs == 0 {
				return sc.usageError(e, "unexpected argument %q", printable(pos[0]))
			}
			return sc.usageError(e, "want %s", sub.args)
		}
		ib, closeInbox, err := src.open(ctx)
		if err != nil {
			return sc.fail(e, err)
		}
		defer closeInbox()
		err = action(ctx, &inboxRun{e: e, ib: ib, json: *src.json}, pos)
		var ue usageError
		if errors.As(err, &ue) {
			return sc.usageError(e, "%s", string(ue))
		}
		if err != nil {
			return sc.fail(e, err)
		}
		return exitOK
	}
	return c
}

// inboxSource is where the inbox commands read from.
type inboxSource struct {
	path, table *string
	json        *bool
}

func registerInboxFlags(fs *flag.FlagSet) *inboxSource {
	path, table := defaultInboxFile, "geminihooks_inbox"
	s := &inboxSource{path: &path, table: &table, json: new(bool)}
	s.register(fs)
	return s
}

// register adds the common flags to fs, sharing the values, so they may
// come before or after the subcommand.
func (s *inboxSource) register(fs *flag.FlagSet) {
	fs.StringVar(s.path, "inbox", *s.path, "the bbolt `file`, or a postgres:// URL of a pginbox")
	fs.StringVar(s.table, "table", *s.table, "the pginbox `table`, optionally schema.table")
	fs.BoolVar(s.json, "json", *s.json, "print JSON")
}

func (s *inboxSource) open(ctx context.Context) (inbox.Admin, func(), error) {
	if strings.HasPrefix(*s.path, "postgres://") || strings.HasPrefix(*s.path, "postgresql://") {
		pool, err := pgxpool.New(ctx, *s.path)
		if err != nil {
			// pgx's parse errors may quote the URL, password included.
			return nil, nil, errors.New("--inbox: not a PostgreSQL URL pgx can use")
		}
		ib, err := pginbox.New(pool, &pginbox.Config{Table: *s.table})
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		return ib, func() { ib.Close(); pool.Close() }, nil
	}
	if *s.path == "memory" {
		return nil, nil, errors.New("--inbox memory lives inside its listen: use its --console")
	}
	// Open would create a missing file: an empty inbox is never what was meant.
	if _, err := os.Stat(*s.path); err != nil {
		return nil, nil, fmt.Errorf("--inbox: %w", err)
	}
	ib, err := boltinbox.Open(*s.path, &boltinbox.Config{LockTimeout: time.Second})
	if errors.Is(err, boltinbox.ErrLocked) {
		return nil, nil, fmt.Errorf("%s is open in another process (a running listen?): stop it, or use its --console", printable(*s.path))
	}
	if err != nil {
		return nil, nil, err
	}
	return ib, func() { ib.Close() }, nil
}

// messageLine is the --json form of a stored event.
type messageLine struct {
	WebhookID   string          `json:"webhook_id"`
	State       inbox.State     `json:"state"`
	Type        string          `json:"type"`
	JobID       string          `json:"job_id"`
	Scheme      string          `json:"scheme"`
	Synthesized bool            `json:"synthesized,omitempty"`
	Attempts    int             `json:"attempts"`
	ReceivedAt  time.Time       `json:"received_at"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	Event       json.RawMessage `json:"event,omitempty"`
}

func toLine(m *inbox.Message) messageLine {
	typ, job := inbox.Summarize(m)
	l := messageLine{WebhookID: m.ID, State: m.State, Type: typ, JobID: job, Scheme: m.Scheme, Synthesized: m.Synthesized,
		Attempts: m.Attempts, ReceivedAt: m.ReceivedAt.UTC(), LastError: m.LastError}
	if !m.FinishedAt.IsZero() {
		t := m.FinishedAt.UTC()
		l.FinishedAt = &t
	}
	if json.Valid(m.Body) {
		l.Event = m.Body
	}
	return l
}

func (r *inboxRun) print(ms []*inbox.Message) error {
	if r.json {
		for _, m := range ms {
			b, err := json.Marshal(toLine(m))
			if err != nil {
				return err
			}
			fmt.Fprintf(r.e.stdout, "%s\n", b)
		}
		return nil
	}
	if len(ms) == 0 {
		fmt.Fprintln(r.e.stderr, "no events")
		return nil
	}
	tw := tabwriter.NewWriter(r.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tSTATE\tATTEMPTS\tWEBHOOK-ID\tTYPE\tJOB\tLAST ERROR")
	for _, m := range ms {
		l := toLine(m)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", l.ReceivedAt.Format("2006-01-02 15:04:05"), l.State, l.Attempts,
			printable(l.WebhookID), printable(orDash(l.Type)), printable(orDash(l.JobID)), printable(shorten(l.LastError, 60)))
	}
	return tw.Flush()
}

func (r *inboxRun) show(m *inbox.Message) {
	l := toLine(m)
	w := r.e.stdout
	fmt.Fprintf(w, "webhook-id   %s\n", printable(l.WebhookID))
	fmt.Fprintf(w, "type         %s\n", printable(orDash(l.Type)))
	fmt.Fprintf(w, "job          %s\n", printable(orDash(l.JobID)))
	fmt.Fprintf(w, "state        %s, %d attempts\n", l.State, l.Attempts)
	fmt.Fprintf(w, "verified by  %s", schemeOrDash(l.Scheme))
	if l.Synthesized {
		fmt.Fprint(w, " (synthesized by a reconciler)")
	}
	fmt.Fprintf(w, "\nreceived     %s\n", l.ReceivedAt.Format(time.RFC3339))
	if l.FinishedAt != nil {
		fmt.Fprintf(w, "finished     %s\n", l.FinishedAt.Format(time.RFC3339))
	}
	if l.LastError != "" {
		fmt.Fprintf(w, "last error   %s\n", printable(l.LastError))
	}
	if len(m.Body) == 0 {
		fmt.Fprintln(w, "body         (not kept: a handled event is only a dedupe record)")
		return
	}
	fmt.Fprintln(w, "body")
	var out bytes.Buffer
	if err := json.Indent(&out, m.Body, "", "  "); err != nil {
		fmt.Fprintf(w, "  %s\n", escapeControl(string(m.Body)))
		return
	}
	for _, line := range strings.Split(out.String(), "\n") {
		fmt.Fprintf(w, "  %s\n", escapeControl(line))
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
