// Agent-loop drives a background interaction by webhook instead of polling:
// the model asks for a local tool (interaction.requires_action), the handler
// runs the tool and answers with SubmitFunctionResults, and the follow-up
// interaction reports interaction.completed to the same callback.
//
//	go run ./examples/agent-loop
//
// runs offline against an in-process emulator, whose model asks for the tool
// once. For the real API, give the public https URL that reaches this process:
//
//	GEMINI_API_KEY=... go run ./examples/agent-loop -public-url https://hooks.example.com
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/examples/internal/backend"
	"github.com/geminihooks/geminihooks/listener"
)

type config struct {
	backend backend.Config
	model   string
	prompt  string
}

// toolCall is one run of the local tool.
type toolCall struct {
	Interaction string // the interaction that asked for it
	CallID      string
	Args        map[string]any
	Result      any
}

type result struct {
	Started   string     // the first interaction
	FollowUps []string   // the interactions that carried tool results
	ToolCalls []toolCall // what the tool was asked and answered
	Completed string     // the interaction that reported interaction.completed
	Stats     listener.Stats
}

// emulatorOutcome makes the emulated model ask for the tool on the first
// interaction and answer on the next; the real model decides for itself.
func emulatorOutcome() func(emulator.Job) emulator.Outcome {
	var asked atomic.Bool
	return func(j emulator.Job) emulator.Outcome {
		if j.Kind == "interaction" && asked.CompareAndSwap(false, true) {
			return "requires_action"
		}
		return "succeeded"
	}
}

// forecasts is the local data the tool serves.
var forecasts = map[string]map[string]any{
	"Oslo":   {"city": "Oslo", "temp_c": 4, "sky": "overcast"},
	"Lisbon": {"city": "Lisbon", "temp_c": 19, "sky": "clear"},
}

// getWeather is the local tool. The emulated model calls it with no
// arguments; the city then defaults to Oslo.
func getWeather(args map[string]any) (any, error) {
	city, _ := args["city"].(string)
	if city == "" {
		city = "Oslo"
	}
	f, ok := forecasts[city]
	if !ok {
		return nil, fmt.Errorf("no forecast for %q", city)
	}
	return f, nil
}

var errInteractionEnded = errors.New("interaction ended without completing")

func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	log := backend.NewLog(out)
	env, err := backend.Start(ctx, cfg.backend)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	log.Printf("api", "%s", env.Describe())
	verifier, err := env.DynamicVerifier()
	if err != nil {
		return nil, err
	}

	res := &result{}
	var mu sync.Mutex
	answered := map[string]bool{} // interactions whose tool calls were answered
	changed := make(chan struct{}, 1)
	wake := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	var completed []string
	var ended error

	// runTool runs the local tool for one call and records it. A tool error
	// goes back to the model, which can recover; retrying the event would
	// not change it.
	runTool := func(interaction string, c geminihooks.FunctionCall) geminihooks.FunctionCall {
		out, err := any(nil), fmt.Errorf("unknown tool %q", c.Name)
		if c.Name == "get_weather" {
			out, err = getWeather(c.Arguments)
		}
		if err != nil {
			c.Result, c.IsError = err.Error(), true
		} else {
			c.Result = out
		}
		log.Printf("tool", "%s(%v) -> %v", c.Name, c.Arguments, c.Result)
		mu.Lock()
		res.ToolCalls = append(res.ToolCalls, toolCall{Interaction: interaction, CallID: c.ID, Args: c.Arguments, Result: c.Result})
		mu.Unlock()
		return c
	}

	l, err := listener.New(verifier, nil)
	if err != nil {
		return nil, err
	}
	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Interaction) error {
		if d.Type != event.TypeInteractionRequiresAction {
			return nil
		}
		log.Printf("event", "interaction.requires_action %s", d.ID)
		// Handlers may run more than once; answering twice would fork the
		// conversation. (A service that restarts keeps this in its database.)
		mu.Lock()
		done := answered[d.ID]
		mu.Unlock()
		if done {
			return nil
		}
		next, err := answerToolCalls(ctx, env.Client, d.ID, func(c geminihooks.FunctionCall) geminihooks.FunctionCall {
			return runTool(d.ID, c)
		})
		if err != nil || next == "" {
			return err
		}
		log.Printf("answer", "%s answered; follow-up %s", d.ID, next)
		mu.Lock()
		answered[d.ID] = true
		res.FollowUps = append(res.FollowUps, next)
		mu.Unlock()
		wake()
		return nil
	})
	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Interaction) error {
		if d.Type != event.TypeInteractionCompleted {
			return nil
		}
		log.Printf("event", "interaction.completed %s", d.ID)
		mu.Lock()
		completed = append(completed, d.ID)
		mu.Unlock()
		wake()
		return nil
	})
	stopWith := func(ctx context.Context, e *event.Event) error {
		log.Printf("event", "%s %s", e.Type, e.JobID)
		mu.Lock()
		ended = fmt.Errorf("%w: %s %s", errInteractionEnded, e.JobID, e.Type)
		mu.Unlock()
		wake()
		return nil
	}
	l.On(event.TypeInteractionFailed, stopWith)
	l.On(event.TypeInteractionCancelled, stopWith)

	env.Mux.Handle(backend.HookPath, l)
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	sctx, stopServing := context.WithCancel(lctx)
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

	it, err := startWeatherChat(ctx, env.Client, cfg.model, cfg.prompt, env.HookURL)
	if err != nil {
		return nil, err
	}
	res.Started = it.ID
	log.Printf("start", "interaction %s (%s) reports to %s", res.Started, it.Status, env.HookURL)

	// Done when an interaction of this conversation completes. Its event
	// may arrive before SubmitFunctionResults has returned its ID, so look
	// again whenever either side changes.
	for {
		mu.Lock()
		chain := append([]string{res.Started}, res.FollowUps...)
		for _, id := range completed {
			for _, c := range chain {
				if id == c {
					res.Completed = id
				}
			}
		}
		err := ended
		mu.Unlock()
		if err != nil {
			return nil, err
		}
		if res.Completed != "" {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for interaction.completed: %w", ctx.Err())
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
	log.Printf("done", "%s completed after %d tool call(s)", res.Completed, len(res.ToolCalls))
	return res, nil
}

// startWeatherChat starts an interaction whose model may call a get_weather
// tool. With a callback it runs in the background (the API requires
// background: true for webhook_config), and its events go to hookURL with
// conversation=weather in their user_metadata.
func startWeatherChat(ctx context.Context, client *geminihooks.Client, model, prompt, hookURL string) (*geminihooks.Interaction, error) {
	return client.Interactions.Create(ctx, geminihooks.InteractionRequest{
		Model: model,
		Input: prompt,
		Tools: []geminihooks.Function{{
			Name:        "get_weather",
			Description: "Today's forecast for a city.",
			Parameters: map[string]any{
				"type":       "object",
				"properties": map[string]any{"city": map[string]any{"type": "string"}},
			},
		}},
	}, &geminihooks.Callback{URIs: []string{hookURL}, UserMetadata: map[string]any{"conversation": "weather"}})
}

// answerToolCalls runs the tools interaction id asks for and submits their
// results. It returns the follow-up interaction's ID, or "" when an earlier
// run of the handler answered already.
func answerToolCalls(ctx context.Context, client *geminihooks.Client, id string,
	runTool func(geminihooks.FunctionCall) geminihooks.FunctionCall) (string, error) {
	it, err := client.Interactions.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if it.Status != "requires_action" {
		return "", nil // answered already, by an earlier run of this handler
	}
	results := make([]geminihooks.FunctionCall, len(it.FunctionCalls))
	for i, c := range it.FunctionCalls {
		results[i] = runTool(c)
	}
	// A nil callback: the follow-up reports to this interaction's own.
	next, err := client.Interactions.SubmitFunctionResults(ctx, id, results, nil)
	if err != nil {
		return "", err
	}
	if next.ID == "" {
		return "", errors.New("the follow-up interaction came back without an ID")
	}
	return next.ID, nil
}

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "agent-loop:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	var cfg config
	cfg.backend.RegisterFlags(flag.CommandLine)
	flag.StringVar(&cfg.model, "model", "gemini-2.5-flash", "model for the interaction")
	flag.StringVar(&cfg.prompt, "prompt", "Should I cycle to work in Oslo today? Check the weather.", "what to ask")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after this long")
	flag.Parse()
	if cfg.backend.PublicURL == "" {
		cfg.backend.EmulatorOutcome = emulatorOutcome()
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	_, err := run(ctx, cfg, os.Stdout)
	return err
}
