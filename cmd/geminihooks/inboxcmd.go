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

func inboxCommand() *command {
	var lines []string
	for _, s := range inboxGroup().subs {
		lines = append(lines, fmt.Sprintf("  %-7s %-6s %s", s.word(), s.args, s.summary))
	}
	return &command{
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
		group: inboxGroup,
	}
}

// inboxGroup makes the inbox subcommands, all reading one inboxSource.
func inboxGroup() *group {
	src := &inboxSource{path: defaultInboxFile, table: "geminihooks_inbox"}
	g := &group{shared: src, subs: []*command{
		subcommand("inbox list", "", "list stored events, newest first, a page at a time", &inboxList{src: src}),
		subcommand("inbox show", "ID", "show one event: state, attempts, last error and body", &inboxShow{src: src}),
		subcommand("inbox dead", "", "list dead letters, newest first", &inboxDead{src: src}),
		subcommand("inbox replay", "ID...", "queue dead letters again, attempts reset; the next listen runs them", &inboxReplay{src: src}),
	}}
	for _, s := range g.subs {
		s.usage = strings.TrimSpace("geminihooks " + s.name + " [--inbox FILE|postgres://...] [--json] [flags] " + s.args)
		s.help = s.summary + "."
		s.example = "geminihooks " + s.name + " " + strings.ReplaceAll(s.args, "ID...", "ID")
	}
	return g
}

// inboxList is `geminihooks inbox list`.
type inboxList struct {
	src                 *inboxSource
	state, typ, job, id string
	limit               int
	after               string
}

func (c *inboxList) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.state, "state", "", "only events in this `state`: pending, claimed, done or dead")
	fs.StringVar(&c.typ, "type", "", "only events of this `type`")
	fs.StringVar(&c.job, "job", "", "only events of this job `ID` (data.id)")
	fs.StringVar(&c.id, "id", "", "only webhook-ids containing `TEXT`")
	fs.IntVar(&c.limit, "limit", 50, "events per page, at most 500")
	fs.StringVar(&c.after, "after", "", "the page after this `CURSOR` (printed at the end of a full page)")
}

func (c *inboxList) validate(*env, []string) error {
	switch inbox.State(c.state) {
	case "", inbox.StatePending, inbox.StateClaimed, inbox.StateDone, inbox.StateDead:
	default:
		return usagef("--state must be pending, claimed, done or dead")
	}
	return checkLimit(c.limit)
}

// checkLimit checks a page size against what an inbox lists at once.
func checkLimit(limit int) error {
	if limit < 1 || limit > inbox.MaxPage {
		return usagef("--limit must be between 1 and 500")
	}
	return nil
}

func (c *inboxList) run(ctx context.Context, e *env) error {
	p, err := c.src.ib.List(ctx, inbox.Filter{State: inbox.State(c.state), Type: c.typ, JobID: c.job, ID: c.id}, c.after, c.limit)
	if errors.Is(err, inbox.ErrBadCursor) {
		return usagef("--after is not a cursor this inbox printed")
	}
	if err != nil {
		return err
	}
	if err := c.src.print(e, p.Messages); err != nil {
		return err
	}
	if p.Next != "" {
		e.status("more: --after "+p.Next, "after", p.Next)
	}
	return nil
}

// inboxShow is `geminihooks inbox show ID`.
type inboxShow struct {
	noFlags
	src *inboxSource
	id  string
}

func (c *inboxShow) validate(_ *env, args []string) error {
	c.id = args[0]
	return nil
}

func (c *inboxShow) run(ctx context.Context, e *env) error {
	m, err := c.src.ib.Get(ctx, c.id)
	if err != nil {
		return err
	}
	if c.src.json {
		return c.src.print(e, []*inbox.Message{m})
	}
	showMessage(e, m)
	return nil
}

// inboxDead is `geminihooks inbox dead`.
type inboxDead struct {
	src   *inboxSource
	limit int
}

func (c *inboxDead) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.limit, "limit", 100, "at most this many, at most 500")
}

func (c *inboxDead) validate(*env, []string) error { return checkLimit(c.limit) }

func (c *inboxDead) run(ctx context.Context, e *env) error {
	p, err := c.src.ib.List(ctx, inbox.Filter{State: inbox.StateDead}, "", c.limit)
	if err != nil {
		return err
	}
	return c.src.print(e, p.Messages)
}

// inboxReplay is `geminihooks inbox replay ID...`.
type inboxReplay struct {
	noFlags
	src *inboxSource
	ids []string
}

func (c *inboxReplay) validate(_ *env, args []string) error {
	c.ids = args
	return nil
}

// run requeues each event it can, and reports those it cannot together.
func (c *inboxReplay) run(ctx context.Context, e *env) error {
	var errs []error
	for _, id := range c.ids {
		err := c.src.ib.Requeue(ctx, id, nil)
		if errors.Is(err, inbox.ErrNoBody) {
			err = fmt.Errorf("%s was handled, and the inbox keeps no body for handled events: replay it from the console of the listen that received it", printable(id))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c.src.json {
			line, _ := json.Marshal(map[string]string{"replayed": id})
			fmt.Fprintf(e.stdout, "%s\n", line)
		} else {
			fmt.Fprintf(e.stdout, "replayed %s\n", printable(id))
		}
	}
	return errors.Join(errs...)
}

// inboxSource is what the inbox subcommands share: where the inbox is,
// and the inbox once open.
type inboxSource struct {
	path, table string
	json        bool
	ib          inbox.Admin
}

// flags registers the fields with their current values as defaults, so
// that values given before a subcommand's name stand after it.
func (s *inboxSource) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.path, "inbox", s.path, "the bbolt `file`, or a postgres:// URL of a pginbox")
	fs.StringVar(&s.table, "table", s.table, "the pginbox `table`, optionally schema.table")
	fs.BoolVar(&s.json, "json", s.json, "print JSON")
}

func (*inboxSource) validate(*env) error { return nil }

func (s *inboxSource) open(ctx context.Context, _ *env) (context.Context, func(), error) {
	ib, closeInbox, err := s.openAdmin(ctx)
	if err != nil {
		return nil, nil, err
	}
	s.ib = ib
	return ctx, closeInbox, nil
}

func (s *inboxSource) openAdmin(ctx context.Context) (inbox.Admin, func(), error) {
	if strings.HasPrefix(s.path, "postgres://") || strings.HasPrefix(s.path, "postgresql://") {
		pool, err := pgxpool.New(ctx, s.path)
		if err != nil {
			// pgx's parse errors may quote the URL, password included.
			return nil, nil, errors.New("--inbox: not a PostgreSQL URL pgx can use")
		}
		ib, err := pginbox.New(pool, &pginbox.Config{Table: s.table})
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		return ib, func() { ib.Close(); pool.Close() }, nil
	}
	if s.path == "memory" {
		return nil, nil, errors.New("--inbox memory lives inside its listen: use its --console")
	}
	// Open would create a missing file: an empty inbox is never what was meant.
	if _, err := os.Stat(s.path); err != nil {
		return nil, nil, fmt.Errorf("--inbox: %w", err)
	}
	ib, err := boltinbox.Open(s.path, &boltinbox.Config{LockTimeout: time.Second})
	if errors.Is(err, boltinbox.ErrLocked) {
		return nil, nil, fmt.Errorf("%s is open in another process (a running listen?): stop it, or use its --console", printable(s.path))
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

func (s *inboxSource) print(e *env, ms []*inbox.Message) error {
	if s.json {
		for _, m := range ms {
			b, err := json.Marshal(toLine(m))
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
		}
		return nil
	}
	if len(ms) == 0 {
		e.status("no events")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tSTATE\tATTEMPTS\tWEBHOOK-ID\tTYPE\tJOB\tLAST ERROR")
	for _, m := range ms {
		l := toLine(m)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", l.ReceivedAt.Format("2006-01-02 15:04:05"), l.State, l.Attempts,
			printable(l.WebhookID), printable(orDash(l.Type)), printable(orDash(l.JobID)), printable(shorten(l.LastError, 60)))
	}
	return tw.Flush()
}

// showMessage writes one event in full, for people.
func showMessage(e *env, m *inbox.Message) {
	l := toLine(m)
	w := e.stdout
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
