package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/internal/loopback"
)

// webhooksSub is one `geminihooks webhooks` subcommand.
type webhooksSub struct {
	name, args, summary string
	// flags registers the subcommand's own flags and returns its action.
	flags func(fs *flag.FlagSet) func(ctx context.Context, w *webhooksRun, pos []string) error
	// nargs is how many positional arguments it takes (the webhook ID).
	nargs int
}

// webhooksRun is what a subcommand's action works with.
type webhooksRun struct {
	e      *env
	client *geminihooks.Client
	json   bool
	// local is set when --base-url is a loopback API (the emulator), which
	// accepts http:// webhook URIs on loopback.
	local bool
}

func webhooksSubs() []*webhooksSub {
	return []*webhooksSub{
		{name: "list", summary: "list the project's webhooks", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			pageSize := fs.Int("page-size", 0, "webhooks per request (default: the API's, 50)")
			return func(ctx context.Context, w *webhooksRun, _ []string) error {
				if *pageSize < 0 || *pageSize > 1000 {
					return usageErr("--page-size must be between 1 and 1000")
				}
				var all []*geminihooks.Webhook
				for wh, err := range w.client.Webhooks.All(ctx, &geminihooks.ListOptions{PageSize: *pageSize}) {
					if err != nil {
						return err
					}
					all = append(all, wh)
				}
				return w.printWebhooks(all)
			}
		}},
		{name: "create", summary: "register a webhook; prints its signing secret once", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			uri := fs.String("uri", "", "endpoint `URL` that receives the deliveries (required; https)")
			name := fs.String("name", "", "optional label")
			var events stringsFlag
			fs.Var(&events, "event", "event `TYPE` to subscribe to; repeatable or comma-separated (required)")
			return func(ctx context.Context, w *webhooksRun, _ []string) error {
				if *uri == "" {
					return usageErr("--uri is required")
				}
				if err := checkWebhookURI(*uri, w.local); err != nil {
					return err
				}
				types, err := parseEvents(events)
				if err != nil {
					return err
				}
				created, secret, err := w.client.Webhooks.Create(ctx, geminihooks.Webhook{URI: *uri, Events: types, Name: *name})
				if err != nil {
					return err
				}
				return w.printSecret(created, secret, "created")
			}
		}},
		{name: "get", args: "ID", nargs: 1, summary: "show one webhook", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			return func(ctx context.Context, w *webhooksRun, pos []string) error {
				wh, err := w.client.Webhooks.Get(ctx, pos[0])
				if err != nil {
					return err
				}
				return w.printWebhooks([]*geminihooks.Webhook{wh})
			}
		}},
		{name: "update", args: "ID", nargs: 1, summary: "change a webhook's name, URI, events or state", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			var (
				name, uri, state optionalString
				events           stringsFlag
			)
			fs.Var(&name, "name", "new label")
			fs.Var(&uri, "uri", "new endpoint `URL`")
			fs.Var(&state, "state", "new `state`: enabled or disabled")
			fs.Var(&events, "event", "replace the subscription with these event `TYPE`s; repeatable or comma-separated")
			return func(ctx context.Context, w *webhooksRun, pos []string) error {
				var u geminihooks.WebhookUpdate
				u.Name, u.URI = name.ptr(), uri.ptr()
				if u.URI != nil {
					if err := checkWebhookURI(*u.URI, w.local); err != nil {
						return err
					}
				}
				if state.set {
					s := geminihooks.State(state.value)
					if s != geminihooks.StateEnabled && s != geminihooks.StateDisabled {
						return usageErr("--state must be enabled or disabled")
					}
					u.State = &s
				}
				if len(events) > 0 {
					types, err := parseEvents(events)
					if err != nil {
						return err
					}
					u.Events = types
				}
				if u.Name == nil && u.URI == nil && u.State == nil && u.Events == nil {
					return usageErr("nothing to update: give --name, --uri, --event or --state")
				}
				wh, err := w.client.Webhooks.Update(ctx, pos[0], u)
				if err != nil {
					return err
				}
				return w.printWebhooks([]*geminihooks.Webhook{wh})
			}
		}},
		{name: "enable", args: "ID", nargs: 1, summary: "turn deliveries back on (also after failed deliveries disabled it)", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			return func(ctx context.Context, w *webhooksRun, pos []string) error {
				wh, err := w.client.Webhooks.Update(ctx, pos[0], geminihooks.WebhookUpdate{State: new(geminihooks.StateEnabled)})
				if err != nil {
					return err
				}
				return w.printWebhooks([]*geminihooks.Webhook{wh})
			}
		}},
		{name: "disable", args: "ID", nargs: 1, summary: "stop deliveries without deleting the webhook", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			return func(ctx context.Context, w *webhooksRun, pos []string) error {
				wh, err := w.client.Webhooks.Update(ctx, pos[0], geminihooks.WebhookUpdate{State: new(geminihooks.StateDisabled)})
				if err != nil {
					return err
				}
				return w.printWebhooks([]*geminihooks.Webhook{wh})
			}
		}},
		{name: "delete", args: "ID", nargs: 1, summary: "remove a webhook", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			return func(ctx context.Context, w *webhooksRun, pos []string) error {
				if err := w.client.Webhooks.Delete(ctx, pos[0]); err != nil {
					return err
				}
				return w.printDone("deleted", pos[0])
			}
		}},
		{name: "ping", args: "ID", nargs: 1, summary: "ask the API to send the webhook a test delivery", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			return func(ctx context.Context, w *webhooksRun, pos []string) error {
				if err := w.client.Webhooks.Ping(ctx, pos[0]); err != nil {
					return err
				}
				return w.printDone("pinged", pos[0])
			}
		}},
		{name: "rotate", args: "ID", nargs: 1, summary: "give a webhook a new signing secret; prints it once", flags: func(fs *flag.FlagSet) func(context.Context, *webhooksRun, []string) error {
			now := fs.Bool("revoke-now", false, "invalidate the previous secrets at once (after a leak) instead of in 24 hours")
			return func(ctx context.Context, w *webhooksRun, pos []string) error {
				revokeAfter := 24 * time.Hour
				if *now {
					revokeAfter = 0
				}
				secret, err := w.client.Webhooks.RotateSigningSecret(ctx, pos[0], revokeAfter)
				if err != nil {
					return err
				}
				wh, err := w.client.Webhooks.Get(ctx, pos[0])
				if err != nil {
					// The rotation happened: the secret must still reach the user.
					wh = &geminihooks.Webhook{ID: pos[0]}
				}
				if err := w.printSecret(wh, secret, "rotated"); err != nil {
					return err
				}
				if *now {
					w.e.status("The previous secrets no longer verify.")
				} else {
					w.e.status("The previous secrets keep verifying for 24 hours: update your receivers before then.")
				}
				return nil
			}
		}},
	}
}

// usageError marks an error in the user's arguments (exit 2).
type usageError string

func (u usageError) Error() string { return string(u) }

func usageErr(msg string) error { return usageError(msg) }

func webhooksCommand() *command {
	subs := webhooksSubs()
	var lines []string
	for _, s := range subs {
		lines = append(lines, fmt.Sprintf("  %-8s %-3s %s", s.name, s.args, capitalize(s.summary)))
	}
	c := &command{
		name:    "webhooks",
		summary: "manage registered webhooks (list, create, get, update, enable, disable, delete, ping, rotate)",
		usage:   "geminihooks webhooks SUBCOMMAND [--base-url URL] [--json] [flags] [ID]",
		help: `Manages the project's registered (static) webhooks through the Gemini API,
or through the emulator with --base-url. The API key comes from
GEMINI_API_KEY or GOOGLE_API_KEY (never a flag, so it stays out of shell
history and process lists; GOOGLE_API_KEY wins when both are set, as in
genai). Output is a table, or JSON with --json.

create and rotate print the new signing secret once, since the API never
shows it again: store it then.

Subcommands:
` + strings.Join(lines, "\n") + `

Run 'geminihooks webhooks SUBCOMMAND --help' for a subcommand's flags.`,
		example: `export GEMINI_API_KEY=...
geminihooks webhooks create --uri https://example.com/webhooks/gemini \
    --event batch.succeeded,batch.failed --name batches
geminihooks webhooks list
geminihooks webhooks rotate k0h9q38f6ejj1g9j7cgcdsauadmbewegl79f`,
	}
	c.run = func(ctx context.Context, e *env, args []string) int {
		// Common flags may come before the subcommand too.
		common := c.newFlagSet()
		opts := registerClientFlags(common)
		e.logFormatFlag(common)
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
		var sub *webhooksSub
		for _, s := range subs {
			if s.name == rest[0] {
				sub = s
			}
		}
		if sub == nil {
			return c.usageError(e, "unknown subcommand %q", printable(rest[0]))
		}
		sc := &command{
			name:    "webhooks " + sub.name,
			usage:   strings.TrimSpace("geminihooks webhooks " + sub.name + " [flags] " + sub.args),
			help:    capitalize(sub.summary) + ".\nThe API key comes from GEMINI_API_KEY, or GOOGLE_API_KEY (which wins\nwhen both are set, as in genai).",
			example: webhooksExample(sub.name),
		}
		fs := sc.newFlagSet()
		opts.register(fs)
		action := sub.flags(fs)
		pos, code, stop := sc.parse(e, fs, rest[1:])
		if stop {
			return code
		}
		if len(pos) != sub.nargs {
			if sub.nargs == 0 {
				return sc.usageError(e, "unexpected argument %q", printable(pos[0]))
			}
			return sc.usageError(e, "want the webhook ID")
		}
		client, err := opts.client(ctx, e)
		if err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return sc.usageError(e, "%v", err)
			}
			return sc.fail(e, err)
		}
		ctx, cancel := context.WithTimeout(ctx, opts.timeout)
		defer cancel()
		if err := action(ctx, &webhooksRun{e: e, client: client, json: opts.json, local: opts.local()}, pos); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return sc.usageError(e, "%v", err)
			}
			return sc.fail(e, err)
		}
		return exitOK
	}
	return c
}

func webhooksExample(sub string) string {
	switch sub {
	case "list":
		return "geminihooks webhooks list --json"
	case "create":
		return "geminihooks webhooks create --uri https://example.com/hook --event batch.succeeded --event video.generated"
	case "update":
		return "geminihooks webhooks update ID --event batch.succeeded,batch.failed --name batches"
	case "rotate":
		return "geminihooks webhooks rotate ID            # old secret valid 24h more\ngeminihooks webhooks rotate ID --revoke-now"
	}
	return "geminihooks webhooks " + sub + " k0h9q38f6ejj1g9j7cgcdsauadmbewegl79f"
}

// clientFlags are the flags every API-calling subcommand shares.
type clientFlags struct {
	baseURL string
	json    bool
	timeout time.Duration
}

func registerClientFlags(fs *flag.FlagSet) *clientFlags {
	f := &clientFlags{timeout: defaultTimeout}
	f.register(fs)
	return f
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	base := "API base `URL`, such as the emulator's"
	if f.baseURL == "" {
		base += " (default: Gemini's)"
	}
	fs.StringVar(&f.baseURL, "base-url", f.baseURL, base)
	fs.BoolVar(&f.json, "json", f.json, "print the result as JSON")
	fs.DurationVar(&f.timeout, "timeout", f.timeout, "give up on the API after this long")
}

// defaultTimeout bounds an API-calling command.
const defaultTimeout = 30 * time.Second

// apiKey reads the API key from the environment as genai does: both
// GOOGLE_API_KEY and GEMINI_API_KEY are honoured, and GOOGLE_API_KEY wins
// when both are set. The CLI says so, where genai prints to the global log.
func apiKey(e *env) (string, error) {
	google := strings.TrimSpace(e.getenv("GOOGLE_API_KEY"))
	gemini := strings.TrimSpace(e.getenv("GEMINI_API_KEY"))
	switch {
	case google != "" && gemini != "":
		if google != gemini {
			e.status("Both GOOGLE_API_KEY and GEMINI_API_KEY are set; using GOOGLE_API_KEY, as genai does")
		}
		return google, nil
	case google != "":
		return google, nil
	case gemini != "":
		return gemini, nil
	}
	return "", usageErr("GEMINI_API_KEY is not set, nor GOOGLE_API_KEY (the emulator prints its key at start)")
}

// client builds a geminihooks client over genai, as a program would.
func (f *clientFlags) client(ctx context.Context, e *env) (*geminihooks.Client, error) {
	return f.clientWithHeaders(ctx, e, nil)
}

// clientWithHeaders is client with headers added to every request (the
// emulator's per-job switches).
func (f *clientFlags) clientWithHeaders(ctx context.Context, e *env, hdr http.Header) (*geminihooks.Client, error) {
	key, err := apiKey(e)
	if err != nil {
		return nil, err
	}
	if f.timeout <= 0 {
		return nil, usageErr("--timeout must be positive")
	}
	cfg := &genai.ClientConfig{APIKey: key, Backend: genai.BackendGeminiAPI}
	if len(hdr) > 0 {
		// Through the HTTP client, which genai's core and its generated
		// Interactions package both use.
		cfg.HTTPClient = &http.Client{Transport: headerTransport{base: http.DefaultTransport, header: hdr}}
	}
	var ccfg geminihooks.Config
	if f.baseURL != "" {
		u, err := url.Parse(f.baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageErr("--base-url must be an absolute http or https URL")
		}
		// The API key rides in a header: plain http only where it cannot
		// leave the machine.
		if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
			return nil, usageErr("--base-url must use https unless its host is loopback (the API key would be sent in clear text)")
		}
		cfg.HTTPOptions.BaseURL = strings.TrimSuffix(f.baseURL, "/") + "/"
		// A local API (the emulator) delivers to local listeners over http.
		if loopback.Host(u.Hostname()) {
			ccfg.InsecureLoopbackHTTP = true
		}
	}
	gc, err := genai.NewClient(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the genai client: %w", err)
	}
	return geminihooks.NewClient(gc, &ccfg)
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.header {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

func parseEvents(vals []string) ([]event.Type, error) {
	var types []event.Type
	seen := map[event.Type]bool{}
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			et := event.Type(t)
			// Checked here, as trigger does, so a typo gets the list of
			// types instead of a round trip and the server's answer.
			if _, known := event.Lookup(et); !known {
				return nil, usageErr(fmt.Sprintf("unknown event type %q; want one of %s",
					printable(t), strings.Join(knownTypeNames(), ", ")))
			}
			if !seen[et] {
				seen[et] = true
				types = append(types, et)
			}
		}
	}
	if len(types) == 0 {
		return nil, usageErr("give at least one --event")
	}
	return types, nil
}

// knownTypeNames lists the event types a webhook can subscribe to, sorted.
func knownTypeNames() []string {
	var names []string
	for ti := range event.Types() {
		names = append(names, string(ti.Type))
	}
	slices.Sort(names)
	return names
}

// local reports whether --base-url names an API on this machine.
func (f *clientFlags) local() bool {
	u, err := url.Parse(f.baseURL)
	return f.baseURL != "" && err == nil && loopback.Host(u.Hostname())
}

// checkWebhookURI checks a --uri before anything is sent, naming the flag
// and the URI (without its query, which may hold a token) in the error.
func checkWebhookURI(raw string, local bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Hostname() == "" || u.Opaque != "" {
		return usageErr("--uri is not an absolute URL such as https://example.com/webhooks/gemini")
	}
	shown := printable((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String())
	switch {
	case u.User != nil:
		return usageErr(fmt.Sprintf("--uri %s carries a user or password; Gemini sends none", shown))
	case u.Fragment != "":
		return usageErr(fmt.Sprintf("--uri %s has a #fragment, which is never sent", shown))
	case strings.EqualFold(u.Scheme, "https"):
		return nil
	case strings.EqualFold(u.Scheme, "http") && local && loopback.Host(u.Hostname()):
		return nil
	case strings.EqualFold(u.Scheme, "http") && local:
		return usageErr(fmt.Sprintf("--uri %s must use https (the emulator takes http only to a loopback host)", shown))
	}
	return usageErr(fmt.Sprintf("--uri %s must use https", shown))
}

// optionalString is a string flag that knows whether it was given, so
// `--name ""` can clear a name.
type optionalString struct {
	value string
	set   bool
}

func (o *optionalString) String() string { return o.value }

func (o *optionalString) Set(v string) error {
	o.value, o.set = v, true
	return nil
}

func (o *optionalString) ptr() *string {
	if !o.set {
		return nil
	}
	v := o.value
	return &v
}

// webhookJSON is the --json form of a webhook: the API's own snake_case.
type webhookJSON struct {
	ID               string       `json:"id"`
	Name             string       `json:"name,omitempty"`
	URI              string       `json:"uri"`
	SubscribedEvents []event.Type `json:"subscribed_events"`
	State            string       `json:"state"`
	SigningSecrets   []secretJSON `json:"signing_secrets,omitempty"`
	CreateTime       string       `json:"create_time,omitempty"`
	UpdateTime       string       `json:"update_time,omitempty"`
	// NewSigningSecret is set by create and rotate only.
	NewSigningSecret string `json:"new_signing_secret,omitempty"`
}

type secretJSON struct {
	TruncatedSecret string `json:"truncated_secret"`
	ExpireTime      string `json:"expire_time,omitempty"`
}

func toJSON(w *geminihooks.Webhook) webhookJSON {
	j := webhookJSON{ID: w.ID, Name: w.Name, URI: w.URI, SubscribedEvents: w.Events, State: string(w.State)}
	if j.SubscribedEvents == nil {
		j.SubscribedEvents = []event.Type{}
	}
	for _, s := range w.SigningSecrets {
		sj := secretJSON{TruncatedSecret: s.Truncated}
		if !s.ExpireTime.IsZero() {
			sj.ExpireTime = s.ExpireTime.UTC().Format(time.RFC3339)
		}
		j.SigningSecrets = append(j.SigningSecrets, sj)
	}
	if !w.CreateTime.IsZero() {
		j.CreateTime = w.CreateTime.UTC().Format(time.RFC3339)
	}
	if !w.UpdateTime.IsZero() {
		j.UpdateTime = w.UpdateTime.UTC().Format(time.RFC3339)
	}
	return j
}

func (w *webhooksRun) printWebhooks(list []*geminihooks.Webhook) error {
	if w.json {
		out := make([]webhookJSON, 0, len(list))
		for _, wh := range list {
			out = append(out, toJSON(wh))
		}
		return writeJSON(w.e.stdout, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(w.e.stdout, "no webhooks")
		return nil
	}
	tw := tabwriter.NewWriter(w.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tEVENTS\tURI\tSECRETS")
	for _, wh := range list {
		events := make([]string, len(wh.Events))
		for i, t := range wh.Events {
			events[i] = printable(string(t))
		}
		var secrets []string
		for _, s := range wh.SigningSecrets {
			v := printable(s.Truncated)
			if !s.ExpireTime.IsZero() {
				v += " (expires " + s.ExpireTime.UTC().Format(time.RFC3339) + ")"
			}
			secrets = append(secrets, v)
		}
		name := wh.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(wh.ID), printable(name), printable(string(wh.State)),
			strings.Join(events, ","), printable(wh.URI), strings.Join(secrets, ", "))
	}
	return tw.Flush()
}

// printSecret shows a new signing secret, the one time the API gives it.
func (w *webhooksRun) printSecret(wh *geminihooks.Webhook, secret geminihooks.Secret, verb string) error {
	if w.json {
		j := toJSON(wh)
		j.NewSigningSecret = string(secret)
		if err := writeJSON(w.e.stdout, j); err != nil {
			return err
		}
	} else {
		if err := w.printWebhooks([]*geminihooks.Webhook{wh}); err != nil {
			return err
		}
		fmt.Fprintf(w.e.stdout, "\nsigning secret: %s\n", string(secret))
	}
	w.e.status(fmt.Sprintf("Webhook %s %s. Store the signing secret now: the API will not show it again.",
		printable(wh.ID), verb), "webhook", wh.ID, "result", verb)
	return nil
}

func (w *webhooksRun) printDone(verb, id string) error {
	if w.json {
		return writeJSON(w.e.stdout, map[string]string{"id": id, "result": verb})
	}
	fmt.Fprintf(w.e.stdout, "%s %s\n", verb, printable(id))
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
