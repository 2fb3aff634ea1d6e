package main

import (
	"context"
	"errors"
	"fmt"
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
	c := &command{
		name:  "emulator jobs",
		usage: "geminihooks emulator jobs batch|video|interaction [--base-url URL] [--callback URL]... [flags]",
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
	}
	c.run = func(ctx context.Context, e *env, args []string) int {
		fs := c.newFlagSet()
		opts := &clientFlags{baseURL: "http://127.0.0.1:8686", timeout: defaultTimeout}
		opts.register(fs)
		var callbacks stringsFlag
		fs.Var(&callbacks, "callback", "send this job's events only to `URL` (repeatable), instead of the registered webhooks")
		metadata := metadataFlag{}
		fs.Var(metadata, "user-metadata", "`KEY=VALUE` echoed in the job's events; repeatable; needs --callback")
		outcome := fs.String("outcome", "succeeded", "how the job ends (`OUTCOME`): succeeded or failed; expired or cancelled for a batch; cancelled or requires_action for an interaction")
		scheme := fs.String("signing", "", "`SCHEME` --callback deliveries are signed with: v1a or jwt (default: the emulator's --dynamic-signing)")
		pos, code, stop := c.parse(e, fs, args)
		if stop {
			return code
		}
		if len(pos) != 1 {
			return c.usageError(e, "want one job kind: batch, video or interaction")
		}
		kind := pos[0]
		outcomes, ok := jobKinds[kind]
		if !ok {
			return c.usageError(e, "unknown job kind %q; want batch, video or interaction", printable(kind))
		}
		if !slices.Contains(outcomes, emulator.Outcome(*outcome)) {
			names := make([]string, len(outcomes))
			for i, o := range outcomes {
				names[i] = string(o)
			}
			return c.usageError(e, "a %s cannot end %q; want one of %s", kind, printable(*outcome), strings.Join(names, ", "))
		}
		if len(metadata) > 0 && len(callbacks) == 0 {
			return c.usageError(e, "--user-metadata needs --callback: events to registered webhooks carry none")
		}
		if *scheme != "" && len(callbacks) == 0 {
			return c.usageError(e, "--signing needs --callback: deliveries to registered webhooks are always signed v1")
		}
		if *scheme != "" && *scheme != string(signing.SchemeEd25519) && *scheme != string(signing.SchemeJWT) {
			return c.usageError(e, "--signing must be v1a or jwt")
		}
		for _, cb := range callbacks {
			if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return c.usageError(e, "--callback must be an absolute http or https URL")
			}
		}
		hdr := http.Header{}
		hdr.Set(emulator.OutcomeHeader, *outcome)
		if *scheme != "" {
			hdr.Set(emulator.SigningHeader, *scheme)
		}
		client, err := opts.clientWithHeaders(ctx, e, hdr)
		if err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return c.usageError(e, "%v", err)
			}
			return c.fail(e, err)
		}
		var cb *geminihooks.Callback
		if len(callbacks) > 0 {
			cb = &geminihooks.Callback{URIs: callbacks}
			if len(metadata) > 0 {
				cb.UserMetadata = metadata
			}
		}
		ctx, cancel := context.WithTimeout(ctx, opts.timeout)
		defer cancel()
		name, err := startJob(ctx, client, kind, cb)
		if err != nil {
			return c.fail(e, err)
		}
		to := "the registered webhooks subscribed to its events"
		if cb != nil {
			to = strings.Join(callbacks, ", ")
		}
		if opts.json {
			if err := writeJSON(e.stdout, map[string]string{"name": name, "kind": kind, "outcome": *outcome}); err != nil {
				return c.fail(e, err)
			}
		} else {
			fmt.Fprintf(e.stdout, "%s %s started; it will end %s\n", kind, printable(name), *outcome)
		}
		e.status(fmt.Sprintf("Its events go to %s; deliveries are listed at %s/emulator/v1/deliveries", printable(to),
			strings.TrimSuffix(printable(opts.baseURL), "/")), "job", name, "kind", kind, "outcome", *outcome)
		return exitOK
	}
	return c
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
