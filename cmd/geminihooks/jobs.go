package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/signing"
)

// jobKinds are the jobs `emulator jobs` starts, with the outcomes each can
// be given, as the emulator defines them.
var jobKinds = map[string][]emulator.Outcome{
	"batch":       {"succeeded", "failed", "expired", "cancelled"},
	"video":       {"succeeded", "failed"},
	"interaction": {"succeeded", "failed", "cancelled", "requires_action"},
}

// emulatorJobsCommand is `geminihooks emulator jobs`: it launches a job on
// a running emulator through the SDK's client, as a program would, so the
// emulator runs it and delivers its events.
func emulatorJobsCommand() *command {
	return &command{
		name:    "emulator jobs",
		summary: "start a job on a running emulator",
		usage:   "geminihooks emulator jobs batch|video|interaction [--base-url URL] [--callback URL]... [flags]",
		help: `Starts a job on a running emulator ('geminihooks emulator'), which runs it
and delivers its events when it ends, as the real service would: to every
enabled registered webhook subscribed to the event type, or, with
--callback, only to those URLs (a per-request webhook_config, signed v1a or
JWT). Prints the job's name; the emulator's deliveries are listed at
BASE_URL/emulator/v1/deliveries.

The API key comes from GEMINI_API_KEY or GOOGLE_API_KEY (the emulator
prints its key at start).`,
		example: `geminihooks emulator --api-key dev-key &
GEMINI_API_KEY=dev-key geminihooks emulator jobs batch --outcome failed \
    --callback http://127.0.0.1:8080/webhooks/gemini --user-metadata order=A-17`,
		args:  "KIND",
		want:  "one job kind: batch, video or interaction",
		words: slices.Sorted(maps.Keys(jobKinds)),
		runner: func() runner {
			return &jobsCmd{api: clientFlags{baseURL: "http://127.0.0.1:8686", timeout: defaultTimeout}, metadata: metadataFlag{}}
		},
	}
}

// jobsCmd is `geminihooks emulator jobs KIND`.
type jobsCmd struct {
	api       clientFlags
	callbacks stringsFlag
	metadata  metadataFlag
	outcome   string
	scheme    string
	kind      string
}

func (c *jobsCmd) flags(fs *flag.FlagSet) {
	c.api.flags(fs)
	fs.Var(&c.callbacks, "callback", "send this job's events only to `URL` (repeatable), instead of the registered webhooks")
	fs.Var(c.metadata, "user-metadata", "`KEY=VALUE` echoed in the job's events; repeatable; needs --callback")
	fs.StringVar(&c.outcome, "outcome", "succeeded", "how the job ends (`OUTCOME`): succeeded or failed; expired or cancelled for a batch; cancelled or requires_action for an interaction")
	fs.StringVar(&c.scheme, "signing", "", "`SCHEME` --callback deliveries are signed with: v1a or jwt (default: the emulator's --dynamic-signing)")
}

func (c *jobsCmd) validate(e *env, args []string) error {
	c.kind = args[0]
	outcomes, ok := jobKinds[c.kind]
	if !ok {
		return usagef("unknown job kind %q; want batch, video or interaction", printable(c.kind))
	}
	if !slices.Contains(outcomes, emulator.Outcome(c.outcome)) {
		names := make([]string, len(outcomes))
		for i, o := range outcomes {
			names[i] = string(o)
		}
		return usagef("a %s cannot end %q; want one of %s", c.kind, printable(c.outcome), strings.Join(names, ", "))
	}
	if len(c.metadata) > 0 && len(c.callbacks) == 0 {
		return usagef("--user-metadata needs --callback: events to registered webhooks carry none")
	}
	if c.scheme != "" && len(c.callbacks) == 0 {
		return usagef("--signing needs --callback: deliveries to registered webhooks are always signed v1")
	}
	if c.scheme != "" && c.scheme != string(signing.SchemeEd25519) && c.scheme != string(signing.SchemeJWT) {
		return usagef("--signing must be v1a or jwt")
	}
	for _, cb := range c.callbacks {
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--callback must be an absolute http or https URL")
		}
	}
	return c.api.validate(e)
}

func (c *jobsCmd) run(ctx context.Context, e *env) error {
	// The emulator's per-job switches ride in headers.
	hdr := http.Header{}
	hdr.Set(emulator.OutcomeHeader, c.outcome)
	if c.scheme != "" {
		hdr.Set(emulator.SigningHeader, c.scheme)
	}
	client, err := c.api.newClient(ctx, hdr)
	if err != nil {
		return err
	}
	var cb *geminihooks.Callback
	if len(c.callbacks) > 0 {
		cb = &geminihooks.Callback{URIs: c.callbacks}
		if len(c.metadata) > 0 {
			cb.UserMetadata = c.metadata
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.api.timeout)
	defer cancel()
	name, err := startJob(ctx, client, c.kind, cb)
	if err != nil {
		return err
	}
	return c.printStarted(e, name, cb != nil)
}

// printStarted says which job started and where its events go.
func (c *jobsCmd) printStarted(e *env, name string, callback bool) error {
	to := "the registered webhooks subscribed to its events"
	if callback {
		to = strings.Join(c.callbacks, ", ")
	}
	if c.api.json {
		if err := writeJSON(e.stdout, map[string]string{"name": name, "kind": c.kind, "outcome": c.outcome}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s %s started; it will end %s\n", c.kind, printable(name), c.outcome)
	}
	e.status(fmt.Sprintf("Its events go to %s; deliveries are listed at %s/emulator/v1/deliveries", printable(to),
		strings.TrimSuffix(printable(c.api.baseURL), "/")), "job", name, "kind", c.kind, "outcome", c.outcome)
	return nil
}

// startJob launches one job of the kind and returns its name.
func startJob(ctx context.Context, client *geminihooks.Client, kind string, cb *geminihooks.Callback) (string, error) {
	switch kind {
	case "batch":
		b, err := client.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{
			InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("Hello from geminihooks emulator jobs.")}},
		}, &genai.CreateBatchJobConfig{DisplayName: "geminihooks-emulator-jobs"}, cb)
		if err != nil {
			return "", err
		}
		return b.Name, nil
	case "video":
		op, err := client.Videos.Generate(ctx, "veo-3.0-generate-001",
			&genai.GenerateVideosSource{Prompt: "a lighthouse at dusk"}, nil, cb)
		if err != nil {
			return "", err
		}
		return op.Name, nil
	default:
		it, err := client.Interactions.Create(ctx, geminihooks.InteractionRequest{
			Model: "gemini-2.5-flash",
			Input: "What is the weather in Oslo?",
			// A tool, so that an interaction told to end requires_action
			// has a function call to show.
			Tools:      []geminihooks.Function{{Name: "get_weather"}},
			Background: true,
		}, cb)
		if err != nil {
			return "", err
		}
		if it.ID == "" {
			return "", errors.New("the interaction came back without an ID")
		}
		return it.ID, nil
	}
}
