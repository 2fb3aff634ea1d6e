// Dynamic-routing launches jobs whose events go to a callback of their own
// (a per-request webhook_config), each tagged with user_metadata.job_group,
// and fans the events out to one processor per group. A job whose group has
// no processor is dead-lettered rather than retried for a day. Its media
// group makes one video each way the API offers: predictLongRunning
// (Videos.Generate) and an Interactions model asked for a video response;
// both end with video.generated, handled by the same processor.
//
//	go run ./examples/dynamic-routing
//
// runs offline against an in-process emulator. For the real API, give the
// public https URL that reaches this process:
//
//	GEMINI_API_KEY=... go run ./examples/dynamic-routing -public-url https://hooks.example.com
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/examples/internal/backend"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

type config struct {
	backend                         backend.Config
	batchModel, vidModel, omniModel string
}

// launch is one job the example starts, and the group it belongs to.
type launch struct {
	Group string
	Kind  string // "batch", "video" or "video-interaction"
	Name  string // the job's name, filled in once launched
}

// plan is what the example launches: two report batches, one embeddings
// batch, two videos for the media processor, and a batch of a group nobody
// handles.
var plan = []launch{
	{Group: "reports", Kind: "batch"},
	{Group: "reports", Kind: "batch"},
	{Group: "embeddings", Kind: "batch"},
	{Group: "media", Kind: "video"},
	{Group: "media", Kind: "video-interaction"},
	{Group: "legacy", Kind: "batch"},
}

// handled is one event a processor received.
type handled struct {
	Job    string
	Type   event.Type
	Scheme string // the signature scheme that verified it
}

type result struct {
	Launched []launch
	// Routed holds, per group, the events its processor handled.
	Routed map[string][]handled
	// Unrouted are the jobs whose group has no processor.
	Unrouted []string
	Stats    listener.Stats
}

// launchJob starts a batch or a video whose events go to hookURL alone, with
// the job's group in their user_metadata, and returns the job's name.
func launchJob(ctx context.Context, client *geminihooks.Client, batchModel, videoModel, omniModel, kind, group, hookURL string) (string, error) {
	cb := &geminihooks.Callback{
		URIs:         []string{hookURL},
		UserMetadata: map[string]any{"job_group": group},
	}
	switch kind {
	case "batch":
		job, err := client.Batches.Create(ctx, batchModel,
			&genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("Work for " + group)}}},
			&genai.CreateBatchJobConfig{DisplayName: group}, cb)
		if err != nil {
			return "", err
		}
		return job.Name, nil
	case "video":
		op, err := client.Videos.Generate(ctx, videoModel,
			&genai.GenerateVideosSource{Prompt: "A lighthouse at dawn"}, nil, cb)
		if err != nil {
			return "", err
		}
		return op.Name, nil
	case "video-interaction":
		it, err := client.Interactions.Create(ctx, geminihooks.InteractionRequest{
			Model:          omniModel,
			Input:          "A red balloon over a calm lake at sunrise",
			ResponseFormat: map[string]any{"type": "video"},
		}, cb)
		if err != nil {
			return "", err
		}
		return it.ID, nil
	}
	return "", fmt.Errorf("unknown job kind %q", kind)
}

// routingListener hands each job event to the processor of its
// user_metadata.job_group. An event whose group has no processor goes to
// unrouted and is dead-lettered: retrying cannot help, and it can be
// replayed once a processor exists.
func routingListener(verifier *signing.Verifier, processors map[string]func(context.Context, *event.Event) error,
	unrouted func(ctx context.Context, e *event.Event, group string)) (*listener.Listener, error) {
	route := func(ctx context.Context, e *event.Event) error {
		group, _ := e.UserMetadata["job_group"].(string)
		p, ok := processors[group]
		if !ok {
			unrouted(ctx, e, group)
			return listener.Permanent(fmt.Errorf("no processor for job_group %q", group))
		}
		return p(ctx, e)
	}
	l, err := listener.New(verifier, nil)
	if err != nil {
		return nil, err
	}
	for _, t := range []event.Type{
		event.TypeBatchSucceeded, event.TypeBatchFailed, event.TypeBatchExpired, event.TypeBatchCancelled,
		event.TypeVideoGenerated, event.TypeInteractionCompleted,
	} {
		l.On(t, route)
	}
	return l, nil
}

func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	log := backend.NewLog(out)
	env, err := backend.Start(ctx, cfg.backend)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	log.Printf("api", "%s", env.Describe())

	// Callback deliveries are signed with Gemini's keys (v1a Ed25519 or an
	// RS256 JWT), published as a JWKS, not with a webhook secret.
	verifier, err := env.DynamicVerifier()
	if err != nil {
		return nil, err
	}

	res := &result{Routed: map[string][]handled{}}
	var mu sync.Mutex
	seen := make(chan string, 4*len(plan)) // job names, as processors or the router finish them
	// record notes what became of an event, for the result and for run's
	// wait; group "" means no processor took it.
	record := func(ctx context.Context, group string, e *event.Event) {
		h := handled{Job: e.JobID, Type: e.Type}
		if m, ok := inbox.ClaimFrom(ctx); ok {
			h.Scheme = m.Scheme
		}
		mu.Lock()
		if group == "" {
			res.Unrouted = append(res.Unrouted, e.JobID)
		} else {
			res.Routed[group] = append(res.Routed[group], h)
		}
		mu.Unlock()
		select {
		case seen <- e.JobID:
		case <-ctx.Done():
		}
	}

	// One processor per job_group. Real ones would load results, index
	// embeddings, transcode video; these say what they would do.
	processors := map[string]func(context.Context, *event.Event) error{
		"reports": func(ctx context.Context, e *event.Event) error {
			d, err := event.As[*event.Batch](e)
			if err != nil || d.Type != event.TypeBatchSucceeded {
				log.Printf("reports", "%s ended as %s: nothing to publish", e.JobID, e.Type)
			} else {
				log.Printf("reports", "%s: publish the report from %s", d.ID, d.OutputFileURI)
			}
			record(ctx, "reports", e)
			return nil
		},
		"embeddings": func(ctx context.Context, e *event.Event) error {
			log.Printf("embeddings", "%s %s: index the vectors", e.JobID, e.Type)
			record(ctx, "embeddings", e)
			return nil
		},
		"media": func(ctx context.Context, e *event.Event) error {
			uri, err := videoLocation(ctx, env.Client, e)
			if err != nil {
				return err
			}
			log.Printf("media", "%s: fetch the video at %s", e.JobID, uri)
			record(ctx, "media", e)
			return nil
		},
	}
	l, err := routingListener(verifier, processors, func(ctx context.Context, e *event.Event, group string) {
		log.Printf("router", "%s: no processor for job_group %q; dead-lettered", e.JobID, group)
		record(ctx, "", e)
	})
	if err != nil {
		return nil, err
	}
	env.Mux.Handle(backend.HookPath, l)
	sctx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- l.Serve(sctx, env.Server, env.Socket) }()
	// drain stops taking deliveries, then lets the workers finish: Serve
	// does it in that order, so nothing is answered 2xx that no worker will
	// handle.
	drain := sync.OnceValue(func() error {
		stopServing()
		return <-served
	})
	defer drain()

	for _, j := range plan {
		if j.Name, err = launchJob(ctx, env.Client, cfg.batchModel, cfg.vidModel, cfg.omniModel, j.Kind, j.Group, env.HookURL); err != nil {
			return nil, err
		}
		res.Launched = append(res.Launched, j)
		log.Printf("launch", "%s %s with job_group=%s", j.Kind, j.Name, j.Group)
	}

	pending := map[string]bool{}
	for _, j := range res.Launched {
		pending[j.Name] = true
	}
	for len(pending) > 0 {
		select {
		case name := <-seen:
			delete(pending, name)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for events of %d jobs: %w", len(pending), ctx.Err())
		}
	}
	if err := env.Settle(ctx); err != nil {
		return nil, err
	}
	if err := drain(); err != nil {
		return nil, err
	}
	res.Stats = l.Stats()
	mu.Lock()
	defer mu.Unlock()
	groups := make([]string, 0, len(res.Routed))
	for g := range res.Routed {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		log.Printf("done", "%-10s %d events", g, len(res.Routed[g]))
	}
	log.Printf("done", "%d dead-lettered (no processor), %d duplicates, %d rejected",
		res.Stats.Dead, res.Stats.Duplicates, res.Stats.Received-res.Stats.Stored-res.Stats.Duplicates)
	return res, nil
}

// videoLocation returns where a finished video's bytes are. Both ways of
// making a video end with video.generated, which names them; should an
// Interactions video end with interaction.completed instead (the API does
// not document which), the interaction's video output names them.
func videoLocation(ctx context.Context, c *geminihooks.Client, e *event.Event) (string, error) {
	if d, err := event.As[*event.Video](e); err == nil {
		return d.Location(), nil
	}
	if e.Type != event.TypeInteractionCompleted {
		return "", listener.Permanent(fmt.Errorf("the media group only makes videos, got %s", e.Type))
	}
	it, err := c.Interactions.Get(ctx, e.JobID)
	if err != nil {
		return "", err // retried
	}
	if it.OutputVideoURI != "" {
		return it.OutputVideoURI, nil
	}
	return "", listener.Permanent(fmt.Errorf("interaction %s completed without a video", e.JobID))
}

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "dynamic-routing:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	var cfg config
	cfg.backend.RegisterFlags(flag.CommandLine)
	flag.StringVar(&cfg.batchModel, "batch-model", "gemini-2.5-flash", "model for the batches")
	flag.StringVar(&cfg.vidModel, "video-model", "veo-3.0-generate-001", "model for the predictLongRunning video")
	flag.StringVar(&cfg.omniModel, "omni-model", "gemini-omni-1.2-flash", "Interactions model for the other video")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after this long (real jobs can take hours)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	_, err := run(ctx, cfg, os.Stdout)
	return err
}
