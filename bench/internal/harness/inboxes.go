package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Every inbox and listener the harness measures is built in this file, so that a change to their
// constructors touches one place.

// The inboxes, as the reports name them.
const (
	memoryStore = "inbox.Memory"
	boltStore   = "boltinbox"
	pgStore     = "pginbox"
)

// Inboxes names the inboxes the harness can measure.
func Inboxes() []string { return []string{memoryStore, boltStore, pgStore} }

// store is an inbox implementation: open returns a fresh, empty inbox and what removes it.
type store struct {
	name string
	open func(ctx context.Context) (inbox.Inbox, func(), error)
}

// stores returns the inboxes to measure: those cfg.Inboxes names, or all. pginbox needs a reachable
// PostgreSQL: without one it is left out and noPG says why.
func stores(cfg Config) (ss []store, noPG string) {
	ss = []store{
		{memoryStore, func(context.Context) (inbox.Inbox, func(), error) {
			ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 1 << 20})
			if err != nil {
				return nil, nil, err
			}
			return ib, func() { ib.Close() }, nil
		}},
		{boltStore, func(context.Context) (inbox.Inbox, func(), error) {
			path, remove, err := boltFile()
			if err != nil {
				return nil, nil, err
			}
			ib, err := openBolt(path, boltFill{})
			if err != nil {
				remove()
				return nil, nil, err
			}
			return ib, func() { ib.Close(); remove() }, nil
		}},
	}
	if noPG = postgresMissing(cfg.Postgres); noPG == "" {
		ss = append(ss, store{pgStore, func(ctx context.Context) (inbox.Inbox, func(), error) {
			t, err := newPGTable(ctx, cfg.Postgres)
			if err != nil {
				return nil, nil, err
			}
			ib, err := t.open(ctx)
			if err != nil {
				t.drop()
				return nil, nil, err
			}
			return ib, func() { ib.Close(); t.drop() }, nil
		}})
	}
	if cfg.Inboxes == nil {
		return ss, noPG
	}
	ss = slices.DeleteFunc(ss, func(s store) bool { return !slices.Contains(cfg.Inboxes, s.name) })
	if !slices.Contains(cfg.Inboxes, pgStore) {
		noPG = "" // not asked for, so not missed
	}
	return ss, noPG
}

// boltFile names a file for a bolt inbox in a new temporary directory, and what removes the directory.
func boltFile() (path string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "geminihooks-bench-*")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "inbox.db"), func() { os.RemoveAll(dir) }, nil
}

// boltFill holds the settings only a bulk fill changes; the zero value opens with the defaults, as the
// measured inboxes are.
type boltFill struct {
	maxBatch int              // operations per commit
	now      func() time.Time // the inbox's clock, which stamps finish times
}

func openBolt(path string, f boltFill) (*boltinbox.DB, error) {
	return boltinbox.Open(path, &boltinbox.Config{MaxBatch: f.maxBatch, Now: f.now})
}

// postgresMissing says why the PostgreSQL at url cannot be used, or "" when it can.
func postgresMissing(url string) string {
	if url == "" {
		return "no PostgreSQL URL (set GEMINIHOOKS_TEST_POSTGRES or -postgres)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err == nil {
		defer pool.Close()
		err = pool.Ping(ctx)
	}
	if err != nil {
		return "PostgreSQL unreachable: " + err.Error()
	}
	return ""
}

// pgTable is a pool and a fresh, randomly named inbox table in it, so that runs never meet each other's
// rows.
type pgTable struct {
	pool *pgxpool.Pool
	name string
}

// pgPoolConns is the pool size the harness gives pginbox when the URL does not set pool_max_conns: more
// than the eleven pginbox's own goroutines use (see the README), with room for the harness's fills and
// drops. pgxpool's own default, four on a two-core machine, makes deliveries queue for a connection.
const pgPoolConns = 17

func newPGTable(ctx context.Context, url string) (*pgTable, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = pgPoolConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	return &pgTable{pool: pool, name: "geminihooks_bench_" + hex.EncodeToString(rnd[:])}, nil
}

// open returns an inbox on the table, migrated.
func (t *pgTable) open(ctx context.Context) (*pginbox.DB, error) {
	ib, err := pginbox.New(t.pool, &pginbox.Config{Table: t.name})
	if err == nil {
		err = ib.Migrate(ctx)
	}
	return ib, err
}

// drop removes the table and those Migrate made beside it, and closes the pool.
func (t *pgTable) drop() {
	var names []string
	for _, suffix := range []string{"", "_jobs", "_leases", "_migrations"} {
		names = append(names, pgx.Identifier{t.name + suffix}.Sanitize())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.pool.Exec(ctx, "DROP TABLE IF EXISTS "+strings.Join(names, ", "))
	t.pool.Close()
}

// listenerSetup is what a part changes in the listener; zero values keep its defaults.
type listenerSetup struct {
	workers int   // handler goroutines
	maxBody int64 // largest body accepted
}

// serve starts a listener over ib with handle for batch.succeeded (the only type the harness sends) and
// its workers running; stop ends them. The caller closes ib after stop.
func serve(ctx context.Context, ib inbox.Inbox, handle func(context.Context, *event.Event) error, s listenerSetup) (l *listener.Listener, stop func(), err error) {
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{sigSecret}})
	if err != nil {
		return nil, nil, err
	}
	l, err = listener.New(v, &listener.Config{Inbox: ib, Workers: s.workers, MaxBodyBytes: s.maxBody})
	if err != nil {
		return nil, nil, err
	}
	l.On(event.TypeBatchSucceeded, handle)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(runCtx)
	}()
	return l, func() { cancel(); <-done }, nil
}

// jobKeyPrefix is what event.JobKey (the listener's job key) puts before a batch.succeeded event's job ID in its job key.
func jobKeyPrefix() string {
	return strings.TrimSuffix(event.JobKey(&event.Event{Type: event.TypeBatchSucceeded, JobID: "x"}), "x")
}

// checkpointPG has the PostgreSQL at url, if any is reachable, take a checkpoint now and waits for it to
// end. PostgreSQL checkpoints on its own every checkpoint_timeout (five minutes by default), spending about
// 15 s writing and syncing what pginbox's turns left. The disk is shared, and every flush waits behind
// those writes: the one boltinbox cell over its p99 limit in a run of tree fcfb584 (20.6 ms at 4,000/s,
// its Put p50 3x its usual) coincided to the second with one, in PostgreSQL's log. A checkpoint taken
// just before a load writes that backlog first and restarts the timer, and no load lasts five minutes.
func checkpointPG(ctx context.Context, url string) error {
	if url == "" {
		return nil
	}
	dial, cancel := context.WithTimeout(ctx, 3*time.Second) // as postgresMissing allows
	defer cancel()
	conn, err := pgx.Connect(dial, url)
	if err != nil {
		return nil // the pginbox rows are skipped, with a note saying why
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("harness: PostgreSQL checkpoint (the role needs superuser or pg_checkpoint): %w", err)
	}
	return nil
}
