// Batch-pipeline launches a batch whose completion is pushed to a callback.
// On batch.succeeded it downloads the output_file_uri, parses the JSONL
// results and writes a summary, instead of polling the batch for hours.
//
//	go run ./examples/batch-pipeline
//
// runs offline against an in-process emulator and prints the summary;
// -out writes it to a file. With -postgres, events wait in a PostgreSQL
// inbox that any number of replicas share, and the summary is written to a
// table in the same transaction that acks its event: effectively once.
//
//	go run ./examples/batch-pipeline -postgres postgres://localhost:5432/app
//
// For the real API, give the public https URL that reaches this process:
//
//	GEMINI_API_KEY=... go run ./examples/batch-pipeline -public-url https://hooks.example.com -out summary.json
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/examples/internal/backend"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
)

type config struct {
	backend backend.Config
	model   string
	// out is where the summary goes; "" prints it.
	out string
	// postgres, when set, is the database for the shared inbox and the
	// summaries table; inboxTable names the inbox's table there.
	postgres, inboxTable string
}

// questions are the batch's requests, by key.
var questions = []struct{ key, text string }{
	{"capital-fr", "What is the capital of France?"},
	{"boiling-point", "At what temperature does water boil at sea level?"},
	{"haiku", "Write a haiku about webhooks."},
}

// summary is what the pipeline writes for a finished batch.
type summary struct {
	Batch         string            `json:"batch"`
	OutputFileURI string            `json:"output_file_uri"`
	Lines         int               `json:"lines"`
	Succeeded     int               `json:"succeeded"`
	Failed        int               `json:"failed"`
	Characters    int               `json:"characters"` // of all answers' text
	Answers       map[string]string `json:"answers"`    // by request key, the first line of each
	Errors        map[string]string `json:"errors,omitempty"`
}

type result struct {
	Batch   string
	Summary summary
	Stats   listener.Stats
}

var (
	errBatchEnded  = errors.New("batch did not succeed")
	errUnsupported = errors.New("unsupported output location")
)

// maxOutputBytes bounds a results download; maxLineBytes one result.
const (
	maxOutputBytes = 1 << 30
	maxLineBytes   = 64 << 20
)

// openInbox returns a PostgreSQL inbox in table, created if need be.
// Migrate is safe to run from every replica at start-up.
func openInbox(ctx context.Context, pool *pgxpool.Pool, table string) (*pginbox.DB, error) {
	ib, err := pginbox.New(pool, &pginbox.Config{Table: table})
	if err != nil {
		return nil, err
	}
	if err := ib.Migrate(ctx); err != nil {
		ib.Close()
		return nil, err
	}
	return ib, nil
}

// commitWithAck runs write for a batch.succeeded event inside the
// transaction that acks it in ib: what write does in tx and the ack commit
// together, so a crash between them cannot write twice or lose a write.
func commitWithAck(ctx context.Context, ib *pginbox.DB, e *event.Event,
	write func(ctx context.Context, tx pgx.Tx, d *event.Batch) error) error {
	store := ib.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error {
		d, err := event.As[*event.Batch](e)
		if err != nil {
			return listener.Permanent(err)
		}
		return write(ctx, tx, d)
	})
	return store(ctx, e)
}

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

	type outcome struct {
		s   summary
		err error
	}
	done := make(chan outcome, 4)
	finish := func(ctx context.Context, o outcome) {
		select {
		case done <- o:
		case <-ctx.Done():
		}
	}
	var l *listener.Listener
	if cfg.postgres == "" {
		if l, err = listener.New(verifier, nil); err != nil {
			return nil, err
		}
		listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Batch) error {
			if d.Type != event.TypeBatchSucceeded {
				return nil // ended, below, takes the others
			}
			log.Printf("event", "batch.succeeded %s, results at %s", d.ID, d.OutputFileURI)
			s, err := summarise(ctx, env, d)
			if err != nil {
				return err // a failed download is retried; see summarise for what is permanent
			}
			// Writing the same summary again is harmless, so a handler that
			// runs twice needs no more care.
			if err := writeSummary(cfg.out, s, log); err != nil {
				return err
			}
			log.Printf("summary", "%d results: %d succeeded, %d failed, %d characters", s.Lines, s.Succeeded, s.Failed, s.Characters)
			finish(ctx, outcome{s: s})
			return nil
		})
	} else {
		pool, err := pgxpool.New(ctx, cfg.postgres)
		if err != nil {
			return nil, err
		}
		defer pool.Close()
		if _, err := pool.Exec(ctx, createSummaries); err != nil {
			return nil, fmt.Errorf("create summaries table: %w", err)
		}
		ib, err := openInbox(ctx, pool, cfg.inboxTable)
		if err != nil {
			return nil, err
		}
		defer ib.Close()
		if l, err = listener.New(verifier, &listener.Config{Inbox: ib}); err != nil {
			return nil, err
		}
		l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
			var s summary
			err := commitWithAck(ctx, ib, e, func(ctx context.Context, tx pgx.Tx, d *event.Batch) error {
				log.Printf("event", "batch.succeeded %s, results at %s", d.ID, d.OutputFileURI)
				var err error
				if s, err = summarise(ctx, env, d); err != nil {
					return err
				}
				b, err := json.Marshal(s)
				if err != nil {
					return err
				}
				_, err = tx.Exec(ctx, insertSummary, s.Batch, b)
				return err
			})
			if err != nil {
				return err
			}
			log.Printf("summary", "%d results: %d succeeded, %d failed, %d characters; committed to batch_summaries",
				s.Lines, s.Succeeded, s.Failed, s.Characters)
			finish(ctx, outcome{s: s})
			return nil
		})
	}
	ended := func(ctx context.Context, e *event.Event) error {
		log.Printf("event", "%s %s", e.Type, e.JobID)
		finish(ctx, outcome{err: fmt.Errorf("%w: %s %s", errBatchEnded, e.JobID, e.Type)})
		return nil
	}
	l.On(event.TypeBatchFailed, ended)
	l.On(event.TypeBatchExpired, ended)
	l.On(event.TypeBatchCancelled, ended)

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

	var reqs []*genai.InlinedRequest
	for _, q := range questions {
		reqs = append(reqs, &genai.InlinedRequest{Contents: genai.Text(q.text), Metadata: map[string]string{"key": q.key}})
	}
	job, err := env.Client.Batches.Create(ctx, cfg.model, &genai.BatchJobSource{InlinedRequests: reqs},
		&genai.CreateBatchJobConfig{DisplayName: "batch-pipeline"},
		&geminihooks.Callback{URIs: []string{env.HookURL}, UserMetadata: map[string]any{"pipeline": "questions"}})
	if err != nil {
		return nil, err
	}
	log.Printf("batch", "%s launched with %d requests; events go to %s", job.Name, len(reqs), env.HookURL)

	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for %s: %w", job.Name, ctx.Err())
	}
	if o.err != nil {
		return nil, o.err
	}
	if err := env.Settle(ctx); err != nil {
		return nil, err
	}
	if err := drain(); err != nil {
		return nil, err
	}
	return &result{Batch: job.Name, Summary: o.s, Stats: l.Stats()}, nil
}

// The summaries table of the -postgres mode, keyed by batch so that a
// summary is written once.
const (
	createSummaries = `CREATE TABLE IF NOT EXISTS batch_summaries (
	batch      text PRIMARY KEY,
	summary    jsonb NOT NULL,
	written_at timestamptz NOT NULL DEFAULT now())`
	insertSummary = `INSERT INTO batch_summaries (batch, summary) VALUES ($1, $2)`
)

// summarise downloads a batch's results and sums them up.
func summarise(ctx context.Context, env *backend.Env, d *event.Batch) (summary, error) {
	req, err := outputRequest(ctx, env.BaseURL, env.APIKey, d.OutputFileURI)
	if err != nil {
		return summary{}, listener.Permanent(err) // the same URI will not get better
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return summary{}, fmt.Errorf("download results: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return summary{}, fmt.Errorf("download results: %s", resp.Status)
	}
	s, err := parseResults(io.LimitReader(resp.Body, maxOutputBytes))
	if err != nil {
		return summary{}, err
	}
	s.Batch, s.OutputFileURI = d.ID, d.OutputFileURI
	return s, nil
}

// outputRequest builds the download of an output_file_uri. The API key goes
// only to the API's own origin, never to whatever host a URI names. A bare
// "files/ID" is the API's file name, downloaded from the API.
func outputRequest(ctx context.Context, baseURL, apiKey, uri string) (*http.Request, error) {
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(uri, "files/") {
		uri = baseURL + "/download/v1beta/" + uri + ":download?alt=media"
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: %.100q", errUnsupported, uri)
	}
	sameOrigin := u.Scheme == base.Scheme && u.Host == base.Host
	if u.Scheme == "http" && !sameOrigin {
		return nil, fmt.Errorf("%w: plain http to another host: %.100q", errUnsupported, uri)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if sameOrigin {
		req.Header.Set("x-goog-api-key", apiKey)
	}
	return req, nil
}

// resultLine is one line of a batch's JSONL output: the request's key and
// either its response or its error.
type resultLine struct {
	Key      string                         `json:"key"`
	Response *genai.GenerateContentResponse `json:"response"`
	Error    *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// parseResults reads a batch's JSONL output. A line that is not a result
// object is an error: a summary that skipped it would be wrong.
func parseResults(r io.Reader) (summary, error) {
	s := summary{Answers: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var rl resultLine
		if err := json.Unmarshal(line, &rl); err != nil {
			return summary{}, listener.Permanent(fmt.Errorf("results line %d: %w", n, err))
		}
		s.Lines++
		key := rl.Key
		if key == "" {
			key = fmt.Sprintf("line-%d", n)
		}
		switch {
		case rl.Error != nil:
			s.Failed++
			if s.Errors == nil {
				s.Errors = map[string]string{}
			}
			s.Errors[key] = fmt.Sprintf("%d %s", rl.Error.Code, rl.Error.Message)
		case rl.Response != nil:
			s.Succeeded++
			text := rl.Response.Text()
			s.Characters += len([]rune(text))
			first, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
			s.Answers[key] = first
		default:
			return summary{}, listener.Permanent(fmt.Errorf("results line %d: neither a response nor an error", n))
		}
	}
	if err := sc.Err(); err != nil {
		return summary{}, fmt.Errorf("read results: %w", err)
	}
	return s, nil
}

// writeSummary writes s as JSON to path, through a temporary file so that a
// reader never sees half of it, or to w when path is "".
func writeSummary(path string, s summary, w io.Writer) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" {
		_, err := w.Write(b)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".summary-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "batch-pipeline:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	var cfg config
	cfg.backend.RegisterFlags(flag.CommandLine)
	flag.StringVar(&cfg.model, "model", "gemini-2.5-flash", "model for the batch")
	flag.StringVar(&cfg.out, "out", "", "write the summary to this file (default: print it)")
	flag.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL URL: keep events in a shared inbox and summaries in a table")
	flag.StringVar(&cfg.inboxTable, "inbox-table", "geminihooks_inbox", "the inbox table, with -postgres")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after this long (real batches can take hours)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	_, err := run(ctx, cfg, os.Stdout)
	return err
}
