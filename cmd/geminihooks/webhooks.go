package main

import (
	"context"
	"encoding/json"
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

func webhooksCommand() *command {
	var lines []string
	for _, s := range webhooksGroup().subs {
		lines = append(lines, fmt.Sprintf("  %-8s %-3s %s", s.word(), s.args, capitalize(s.summary)))
	}
	return &command{
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
		group: webhooksGroup,
	}
}

// webhooksGroup makes the webhooks subcommands, all working with one
// webhooksAPI.
func webhooksGroup() *group {
	api := &webhooksAPI{clientFlags: clientFlags{timeout: defaultTimeout}}
	g := &group{shared: api, subs: []*command{
		subcommand("webhooks list", "", "list the project's webhooks", &webhooksList{api: api}),
		subcommand("webhooks create", "", "register a webhook; prints its signing secret once", &webhooksCreate{api: api}),
		subcommand("webhooks get", "ID", "show one webhook", &webhooksGet{api: api}),
		subcommand("webhooks update", "ID", "change a webhook's name, URI, events or state", &webhooksUpdate{api: api}),
		subcommand("webhooks enable", "ID", "turn deliveries back on (also after failed deliveries disabled it)",
			&webhooksSetState{api: api, to: geminihooks.StateEnabled}),
		subcommand("webhooks disable", "ID", "stop deliveries without deleting the webhook",
			&webhooksSetState{api: api, to: geminihooks.StateDisabled}),
		subcommand("webhooks delete", "ID", "remove a webhook",
			&webhooksCall{api: api, call: (*geminihooks.WebhooksService).Delete, done: "deleted"}),
		subcommand("webhooks ping", "ID", "ask the API to send the webhook a test delivery",
			&webhooksCall{api: api, call: (*geminihooks.WebhooksService).Ping, done: "pinged"}),
		subcommand("webhooks rotate", "ID", "give a webhook a new signing secret; prints it once", &webhooksRotate{api: api}),
	}}
	for _, s := range g.subs {
		s.usage = strings.TrimSpace("geminihooks " + s.name + " [flags] " + s.args)
		s.help = capitalize(s.summary) + ".\nThe API key comes from GEMINI_API_KEY, or GOOGLE_API_KEY (which wins\nwhen both are set, as in genai)."
		s.example = webhooksExample(s.word())
		s.want = "the webhook ID"
	}
	return g
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

// webhooksAPI is what the webhooks subcommands share: the client flags
// (whose flags and validate it takes as its own), and the client made
// from them.
type webhooksAPI struct {
	clientFlags
	client *geminihooks.Client
}

// open makes the client; the subcommand runs within --timeout.
func (a *webhooksAPI) open(ctx context.Context, _ *env) (context.Context, func(), error) {
	client, err := a.newClient(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	a.client = client
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	return ctx, cancel, nil
}

// update applies u to a webhook and prints the webhook as it now is.
func (a *webhooksAPI) update(ctx context.Context, e *env, id string, u geminihooks.WebhookUpdate) error {
	wh, err := a.client.Webhooks.Update(ctx, id, u)
	if err != nil {
		return err
	}
	return a.printWebhooks(e, wh)
}

// webhookArg is the argument of the subcommands that act on one webhook.
type webhookArg struct{ id string }

func (w *webhookArg) validate(_ *env, args []string) error {
	w.id = args[0]
	return nil
}

// webhooksList is `geminihooks webhooks list`.
type webhooksList struct {
	api      *webhooksAPI
	pageSize int
}

func (c *webhooksList) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.pageSize, "page-size", 0, "webhooks per request (default: the API's, 50)")
}

func (c *webhooksList) validate(*env, []string) error {
	if c.pageSize < 0 || c.pageSize > 1000 {
		return usagef("--page-size must be between 1 and 1000")
	}
	return nil
}

func (c *webhooksList) run(ctx context.Context, e *env) error {
	var all []*geminihooks.Webhook
	for wh, err := range c.api.client.Webhooks.All(ctx, &geminihooks.ListOptions{PageSize: c.pageSize}) {
		if err != nil {
			return err
		}
		all = append(all, wh)
	}
	return c.api.printWebhooks(e, all...)
}

// webhooksCreate is `geminihooks webhooks create`.
type webhooksCreate struct {
	api       *webhooksAPI
	uri, name string
	events    stringsFlag
	types     []event.Type
}

func (c *webhooksCreate) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.uri, "uri", "", "endpoint `URL` that receives the deliveries (required; https)")
	fs.StringVar(&c.name, "name", "", "optional label")
	fs.Var(&c.events, "event", "event `TYPE` to subscribe to; repeatable or comma-separated (required)")
}

func (c *webhooksCreate) validate(*env, []string) error {
	if c.uri == "" {
		return usagef("--uri is required")
	}
	if err := checkWebhookURI(c.uri, c.api.local()); err != nil {
		return err
	}
	var err error
	c.types, err = parseEvents(c.events)
	return err
}

func (c *webhooksCreate) run(ctx context.Context, e *env) error {
	created, secret, err := c.api.client.Webhooks.Create(ctx, geminihooks.Webhook{URI: c.uri, Events: c.types, Name: c.name})
	if err != nil {
		return err
	}
	return c.api.printSecret(e, created, secret, "created")
}

// webhooksGet is `geminihooks webhooks get ID`.
type webhooksGet struct {
	noFlags
	webhookArg
	api *webhooksAPI
}

func (c *webhooksGet) run(ctx context.Context, e *env) error {
	wh, err := c.api.client.Webhooks.Get(ctx, c.id)
	if err != nil {
		return err
	}
	return c.api.printWebhooks(e, wh)
}

// webhooksUpdate is `geminihooks webhooks update ID`.
type webhooksUpdate struct {
	api              *webhooksAPI
	id               string
	name, uri, state optionalString
	events           stringsFlag
	update           geminihooks.WebhookUpdate
}

func (c *webhooksUpdate) flags(fs *flag.FlagSet) {
	fs.Var(&c.name, "name", "new label")
	fs.Var(&c.uri, "uri", "new endpoint `URL`")
	fs.Var(&c.state, "state", "new `state`: enabled or disabled")
	fs.Var(&c.events, "event", "replace the subscription with these event `TYPE`s; repeatable or comma-separated")
}

func (c *webhooksUpdate) validate(_ *env, args []string) error {
	c.id = args[0]
	u := &c.update
	u.Name, u.URI = c.name.ptr(), c.uri.ptr()
	if u.URI != nil {
		if err := checkWebhookURI(*u.URI, c.api.local()); err != nil {
			return err
		}
	}
	if c.state.set {
		s := geminihooks.State(c.state.value)
		if s != geminihooks.StateEnabled && s != geminihooks.StateDisabled {
			return usagef("--state must be enabled or disabled")
		}
		u.State = &s
	}
	if len(c.events) > 0 {
		types, err := parseEvents(c.events)
		if err != nil {
			return err
		}
		u.Events = types
	}
	if u.Name == nil && u.URI == nil && u.State == nil && u.Events == nil {
		return usagef("nothing to update: give --name, --uri, --event or --state")
	}
	return nil
}

func (c *webhooksUpdate) run(ctx context.Context, e *env) error {
	return c.api.update(ctx, e, c.id, c.update)
}

// webhooksSetState is `geminihooks webhooks enable ID` and `disable ID`.
type webhooksSetState struct {
	noFlags
	webhookArg
	api *webhooksAPI
	to  geminihooks.State
}

func (c *webhooksSetState) run(ctx context.Context, e *env) error {
	return c.api.update(ctx, e, c.id, geminihooks.WebhookUpdate{State: &c.to})
}

// webhooksCall is a subcommand that makes one call on a webhook and says
// it is done: delete, ping.
type webhooksCall struct {
	noFlags
	webhookArg
	api  *webhooksAPI
	call func(s *geminihooks.WebhooksService, ctx context.Context, id string) error
	done string // what the output says happened: "deleted"
}

func (c *webhooksCall) run(ctx context.Context, e *env) error {
	if err := c.call(c.api.client.Webhooks, ctx, c.id); err != nil {
		return err
	}
	return c.api.printDone(e, c.done, c.id)
}

// webhooksRotate is `geminihooks webhooks rotate ID`.
type webhooksRotate struct {
	webhookArg
	api       *webhooksAPI
	revokeNow bool
}

func (c *webhooksRotate) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.revokeNow, "revoke-now", false, "invalidate the previous secrets at once (after a leak) instead of in 24 hours")
}

func (c *webhooksRotate) run(ctx context.Context, e *env) error {
	revokeAfter := 24 * time.Hour
	if c.revokeNow {
		revokeAfter = 0
	}
	secret, err := c.api.client.Webhooks.RotateSigningSecret(ctx, c.id, revokeAfter)
	if err != nil {
		return err
	}
	wh, err := c.api.client.Webhooks.Get(ctx, c.id)
	if err != nil {
		// The rotation happened: the secret must still reach the user.
		wh = &geminihooks.Webhook{ID: c.id}
	}
	if err := c.api.printSecret(e, wh, secret, "rotated"); err != nil {
		return err
	}
	if c.revokeNow {
		e.status("The previous secrets no longer verify.")
	} else {
		e.status("The previous secrets keep verifying for 24 hours: update your receivers before then.")
	}
	return nil
}

// clientFlags are the flags of the commands that call the API.
type clientFlags struct {
	baseURL string
	json    bool
	timeout time.Duration
	// key is the API key, read from the environment by validate.
	key string
}

// flags registers the fields with their current values as defaults, so
// that values given before a subcommand's name stand after it.
func (f *clientFlags) flags(fs *flag.FlagSet) {
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

// validate reads the API key and checks --timeout and --base-url.
func (f *clientFlags) validate(e *env) error {
	key, err := apiKey(e)
	if err != nil {
		return err
	}
	f.key = key
	if f.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if f.baseURL == "" {
		return nil
	}
	u, err := url.Parse(f.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--base-url must be an absolute http or https URL")
	}
	// The API key rides in a header: plain http only where it cannot
	// leave the machine.
	if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
		return usagef("--base-url must use https unless its host is loopback (the API key would be sent in clear text)")
	}
	return nil
}

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
	return "", usagef("GEMINI_API_KEY is not set, nor GOOGLE_API_KEY (the emulator prints its key at start)")
}

// newClient builds a geminihooks client over genai, as a program would,
// once validate has passed. hdr is added to every request (the emulator's
// per-job switches).
func (f *clientFlags) newClient(ctx context.Context, hdr http.Header) (*geminihooks.Client, error) {
	cfg := &genai.ClientConfig{APIKey: f.key, Backend: genai.BackendGeminiAPI}
	if len(hdr) > 0 {
		// Through the HTTP client, which genai's core and its generated
		// Interactions package both use.
		cfg.HTTPClient = &http.Client{Transport: headerTransport{base: http.DefaultTransport, header: hdr}}
	}
	var ccfg geminihooks.Config
	if f.baseURL != "" {
		cfg.HTTPOptions.BaseURL = strings.TrimSuffix(f.baseURL, "/") + "/"
		// A local API (the emulator) delivers to local listeners over http.
		ccfg.InsecureLoopbackHTTP = f.local()
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
				return nil, usagef("unknown event type %q; want one of %s",
					printable(t), strings.Join(knownTypeNames(), ", "))
			}
			if !seen[et] {
				seen[et] = true
				types = append(types, et)
			}
		}
	}
	if len(types) == 0 {
		return nil, usagef("give at least one --event")
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
		return usagef("--uri is not an absolute URL such as https://example.com/webhooks/gemini")
	}
	shown := printable((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String())
	switch {
	case u.User != nil:
		return usagef("--uri %s carries a user or password; Gemini sends none", shown)
	case u.Fragment != "":
		return usagef("--uri %s has a #fragment, which is never sent", shown)
	case strings.EqualFold(u.Scheme, "https"):
		return nil
	case strings.EqualFold(u.Scheme, "http") && local && loopback.Host(u.Hostname()):
		return nil
	case strings.EqualFold(u.Scheme, "http") && local:
		return usagef("--uri %s must use https (the emulator takes http only to a loopback host)", shown)
	}
	return usagef("--uri %s must use https", shown)
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

func (a *webhooksAPI) printWebhooks(e *env, list ...*geminihooks.Webhook) error {
	if a.json {
		out := make([]webhookJSON, 0, len(list))
		for _, wh := range list {
			out = append(out, toJSON(wh))
		}
		return writeJSON(e.stdout, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no webhooks")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
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
func (a *webhooksAPI) printSecret(e *env, wh *geminihooks.Webhook, secret geminihooks.Secret, verb string) error {
	if a.json {
		j := toJSON(wh)
		j.NewSigningSecret = string(secret)
		if err := writeJSON(e.stdout, j); err != nil {
			return err
		}
	} else {
		if err := a.printWebhooks(e, wh); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nsigning secret: %s\n", string(secret))
	}
	e.status(fmt.Sprintf("Webhook %s %s. Store the signing secret now: the API will not show it again.",
		printable(wh.ID), verb), "webhook", wh.ID, "result", verb)
	return nil
}

func (a *webhooksAPI) printDone(e *env, verb, id string) error {
	if a.json {
		return writeJSON(e.stdout, map[string]string{"id": id, "result": verb})
	}
	fmt.Fprintf(e.stdout, "%s %s\n", verb, printable(id))
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
