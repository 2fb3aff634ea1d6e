package pginbox_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
)

func TestNewValidatesNames(t *testing.T) {
	t.Parallel()
	// New touches no database, so a pool that never connects is enough.
	pool := lazyPool(t)
	long := strings.Repeat("a", 53)
	for name, cfg := range map[string]pginbox.Config{
		"quote in table": {Table: `inbox"; DROP TABLE x; --`},
		"space in table": {Table: "my inbox"},
		"leading digit":  {Table: "1inbox"},
		"two dots":       {Table: "a.b.c"},
		"bad schema":     {Table: "my-app.inbox"},
		"table too long": {Table: long},
		"bad channel":    {Channel: "wake up"},
		"negative max":   {MaxPending: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := pginbox.New(pool, &cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
	if _, err := pginbox.New(pool, &pginbox.Config{MaxPending: -1}); err == nil || err.Error() != "pginbox: Config.MaxPending is -1, need 0 (no cap) or more" {
		t.Errorf("New with MaxPending -1 = %v; want an error naming the field", err)
	}
	for _, table := range []string{"inbox", "app.inbox", "App_1.Inbox_2", strings.Repeat("a", 52)} {
		if _, err := pginbox.New(pool, &pginbox.Config{Table: table}); err != nil {
			t.Errorf("New(Table: %q) = %v", table, err)
		}
	}
	if _, err := pginbox.New(pool, nil); err != nil {
		t.Errorf("New with the default table = %v", err)
	}
	if _, err := pginbox.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := testSchema(t, pool)
	// Replicas starting together all migrate the same table.
	const replicas = 6
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	start := make(chan struct{})
	for range replicas {
		wg.Go(func() {
			ib, err := pginbox.New(pool, &pginbox.Config{Table: schema + ".inbox"})
			if err != nil {
				errs <- err
				return
			}
			<-start
			errs <- ib.Migrate(t.Context())
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	var versions []int
	rows, err := pool.Query(t.Context(), "SELECT version FROM "+pgx.Identifier{schema, "inbox_migrations"}.Sanitize()+" ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != pginbox.SchemaVersion || versions[len(versions)-1] != pginbox.SchemaVersion {
		t.Errorf("recorded versions %v; want 1..%d once each", versions, pginbox.SchemaVersion)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ib, schema := newInbox(t, pool, nil)
	if _, err := pool.Exec(t.Context(), "INSERT INTO "+pgx.Identifier{schema, "inbox_migrations"}.Sanitize()+" (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	if err := ib.Migrate(t.Context()); !errors.Is(err, pginbox.ErrSchemaTooNew) {
		t.Fatalf("Migrate over a newer schema = %v; want ErrSchemaTooNew", err)
	}
}

func TestTablesAreSeparate(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := testSchema(t, pool)
	open := func(table string) *pginbox.DB {
		ib, err := pginbox.New(pool, &pginbox.Config{Table: schema + "." + table})
		if err != nil {
			t.Fatal(err)
		}
		if err := ib.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return ib
	}
	a, b := open("app_a"), open("app_b")
	na, nb := a.Notify(), b.Notify()
	drainSignals(na)
	drainSignals(nb)
	for _, ib := range []*pginbox.DB{a, b} {
		if ok, err := ib.Put(t.Context(), &inbox.Message{ID: "wh_1", Body: []byte("{}")}); err != nil || !ok {
			t.Fatalf("Put = %v, %v; want stored in each app's table", ok, err)
		}
	}
	if ms, err := a.Claim(t.Context(), 10, time.Minute); err != nil || len(ms) != 1 {
		t.Fatalf("Claim in app a = %v, %v; want its one message", ms, err)
	}
	if d, err := b.Depth(t.Context()); err != nil || d != 1 {
		t.Errorf("Depth of app b = %d, %v; want 1", d, err)
	}
	a.Close()
	b.Close()
}

func drainSignals(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestNotifyAcrossReplicas checks that a Put through one Inbox wakes
// another on the same table, as it would on another machine.
func TestNotifyAcrossReplicas(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	a, schema := newInbox(t, pool, nil)
	b, err := pginbox.New(pool, &pginbox.Config{Table: schema + ".inbox", Channel: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ch := b.Notify()
	// The listener signals once when it has connected and listens.
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no signal after the listener connected")
	}
	if _, err := a.Put(t.Context(), &inbox.Message{ID: "wh_1", Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no signal in replica b after a Put in replica a")
	}
	if ms, err := b.Claim(t.Context(), 1, time.Minute); err != nil || len(ms) != 1 {
		t.Fatalf("Claim in b = %v, %v", ms, err)
	}
}

func TestMaxPending(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ib, _ := newInbox(t, pool, &pginbox.Config{MaxPending: 2})
	ctx := t.Context()
	for _, id := range []string{"wh_1", "wh_2"} {
		if ok, err := ib.Put(ctx, &inbox.Message{ID: id}); err != nil || !ok {
			t.Fatalf("Put(%q) = %v, %v", id, ok, err)
		}
	}
	if ok, err := ib.Put(ctx, &inbox.Message{ID: "wh_3"}); ok || !errors.Is(err, inbox.ErrFull) {
		t.Fatalf("Put over the cap = %v, %v; want ErrFull", ok, err)
	}
	if ok, err := ib.Put(ctx, &inbox.Message{ID: "wh_1"}); ok || err != nil {
		t.Fatalf("duplicate Put when full = %v, %v; want false, nil", ok, err)
	}
}

func TestUntrustedKeys(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ib, _ := newInbox(t, pool, nil)
	ctx := t.Context()
	// Bytes a text column would refuse: NUL and invalid UTF-8.
	m := &inbox.Message{ID: "wh_\x00\xff", JobKey: "batch.failed\x00batches/\xfe", Body: []byte{0, 1, 2}}
	if ok, err := ib.Put(ctx, m); err != nil || !ok {
		t.Fatalf("Put = %v, %v", ok, err)
	}
	got, err := ib.Get(ctx, m.ID)
	if err != nil || got.ID != m.ID || got.JobKey != m.JobKey || string(got.Body) != string(m.Body) {
		t.Fatalf("Get = %+v, %v; want the bytes back", got, err)
	}
	ms, err := ib.Claim(ctx, 1, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatal(ms, err)
	}
	if err := ib.Retry(ctx, m.ID, ms[0].Lease, time.Time{}, "bad \x00 byte \xff"); err != nil {
		t.Fatalf("Retry with an odd reason = %v", err)
	}
}

// txEnv is a migrated inbox with a table the handler writes to.
type txEnv struct {
	t      *testing.T
	ib     *pginbox.DB
	schema string
	counts string // quoted table: webhook-id -> handler commits
	pool   interface {
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func newTxEnv(t *testing.T) *txEnv {
	pool := testPool(t)
	ib, schema := newInbox(t, pool, nil)
	counts := pgx.Identifier{schema, "counts"}.Sanitize()
	if _, err := pool.Exec(t.Context(), "CREATE TABLE "+counts+" (id text PRIMARY KEY, n int NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return &txEnv{t: t, ib: ib, schema: schema, counts: counts, pool: pool}
}

// count is the handler's write: one more commit for e.
func (x *txEnv) count(ctx context.Context, tx pgx.Tx, e *event.Event) error {
	_, err := tx.Exec(ctx, "INSERT INTO "+x.counts+" (id, n) VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET n = "+x.counts+".n + 1", e.ID)
	return err
}

func (x *txEnv) n(id string) int {
	var n int
	err := x.pool.QueryRow(x.t.Context(), "SELECT coalesce((SELECT n FROM "+x.counts+" WHERE id = $1), 0)", id).Scan(&n)
	if err != nil {
		x.t.Fatal(err)
	}
	return n
}

func (x *txEnv) claim(id string) *inbox.Message {
	x.t.Helper()
	if ok, err := x.ib.Put(x.t.Context(), &inbox.Message{ID: id, Body: []byte("{}")}); err != nil || !ok {
		x.t.Fatalf("Put = %v, %v", ok, err)
	}
	ms, err := x.ib.Claim(x.t.Context(), 1, time.Minute)
	if err != nil || len(ms) != 1 || ms[0].ID != id {
		x.t.Fatalf("Claim = %v, %v", ms, err)
	}
	return ms[0]
}

func TestTransactional(t *testing.T) {
	t.Parallel()
	t.Run("commits writes and ack together", func(t *testing.T) {
		t.Parallel()
		x := newTxEnv(t)
		m := x.claim("wh_1")
		h := x.ib.Transactional(x.count)
		ctx := inbox.WithClaim(t.Context(), m)
		if err := h(ctx, &event.Event{ID: m.ID}); err != nil {
			t.Fatalf("handler = %v", err)
		}
		if got, err := x.ib.Get(t.Context(), m.ID); err != nil || got.State != inbox.StateDone {
			t.Fatalf("after the handler: %+v, %v; want done", got, err)
		}
		if n := x.n(m.ID); n != 1 {
			t.Errorf("handler writes committed %d times; want 1", n)
		}
		// The listener acks after a nil error: a no-op now.
		if err := x.ib.Ack(t.Context(), m.ID, m.Lease); err != nil {
			t.Errorf("Ack after the transactional handler = %v", err)
		}
		// A second run for the same claim does not run fn again.
		if err := h(ctx, &event.Event{ID: m.ID}); err != nil || x.n(m.ID) != 1 {
			t.Errorf("second run = %v with %d commits; want nil and still 1", err, x.n(m.ID))
		}
	})
	t.Run("handler error rolls everything back", func(t *testing.T) {
		t.Parallel()
		x := newTxEnv(t)
		m := x.claim("wh_1")
		boom := errors.New("boom")
		h := x.ib.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error {
			if err := x.count(ctx, tx, e); err != nil {
				return err
			}
			return boom
		})
		if err := h(inbox.WithClaim(t.Context(), m), &event.Event{ID: m.ID}); !errors.Is(err, boom) {
			t.Fatalf("handler = %v; want boom", err)
		}
		if n := x.n(m.ID); n != 0 {
			t.Errorf("a failed handler's writes committed (%d)", n)
		}
		if got, _ := x.ib.Get(t.Context(), m.ID); got.State != inbox.StateClaimed {
			t.Errorf("state after a failed handler = %q; want still claimed, for the listener to retry", got.State)
		}
	})
	t.Run("lost lease runs nothing", func(t *testing.T) {
		t.Parallel()
		x := newTxEnv(t)
		m := x.claim("wh_1")
		stale := *m
		stale.Lease = "someone-elses"
		ran := false
		h := x.ib.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error { ran = true; return nil })
		if err := h(inbox.WithClaim(t.Context(), &stale), &event.Event{ID: m.ID}); !errors.Is(err, inbox.ErrLeaseLost) {
			t.Fatalf("handler with a stale lease = %v; want ErrLeaseLost", err)
		}
		if ran {
			t.Error("fn ran without the lease")
		}
	})
	t.Run("no claim in context", func(t *testing.T) {
		t.Parallel()
		x := newTxEnv(t)
		h := x.ib.Transactional(x.count)
		if err := h(t.Context(), &event.Event{ID: "wh_1"}); !errors.Is(err, pginbox.ErrNoClaim) {
			t.Fatalf("handler without a claim = %v; want ErrNoClaim", err)
		}
	})
	t.Run("row stays locked while fn runs", func(t *testing.T) {
		t.Parallel()
		pool := testPool(t)
		var mu sync.Mutex
		now := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		ib, _ := newInbox(t, pool, &pginbox.Config{Now: clock})
		if _, err := ib.Put(t.Context(), &inbox.Message{ID: "wh_1"}); err != nil {
			t.Fatal(err)
		}
		ms, err := ib.Claim(t.Context(), 1, time.Minute)
		if err != nil || len(ms) != 1 {
			t.Fatal(ms, err)
		}
		inside := make(chan struct{})
		release := make(chan struct{})
		h := ib.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error {
			close(inside)
			<-release
			return nil
		})
		done := make(chan error, 1)
		go func() { done <- h(inbox.WithClaim(t.Context(), ms[0]), &event.Event{ID: "wh_1"}) }()
		<-inside
		// The lease runs out while fn runs; another worker still cannot
		// take the message, because its row is locked.
		mu.Lock()
		now = now.Add(2 * time.Minute)
		mu.Unlock()
		if got, err := ib.Claim(t.Context(), 1, time.Minute); err != nil || len(got) != 0 {
			t.Errorf("Claim while the handler's transaction holds the row = %v, %v; want none", got, err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("handler = %v", err)
		}
		if got, _ := ib.Get(t.Context(), "wh_1"); got.State != inbox.StateDone {
			t.Errorf("state = %q; want done", got.State)
		}
	})
}

func TestCloseStopsListener(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ib, _ := newInbox(t, pool, nil)
	ib.Notify()
	done := make(chan error, 1)
	go func() { done <- ib.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the notification listener did not stop")
	}
	if err := ib.Migrate(t.Context()); !errors.Is(err, inbox.ErrClosed) {
		t.Errorf("Migrate after Close = %v; want ErrClosed", err)
	}
}

// Claims and retries change state, attempts, lease, lease_until, not_before
// and last_error; when no index depends on those columns (predicates count),
// PostgreSQL can make them heap-only updates, with no index writes. The
// claim is one of three writes every event costs, so this is what keeps it
// cheap.
func TestClaimChangesNoIndexedColumn(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	_, schema := newInbox(t, pool, nil)
	rows, err := pool.Query(t.Context(), `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'inbox'`, schema)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) == 0 {
		t.Fatal("no indexes found")
	}
	// Room on each page for those updates, and vacuum after a fixed number
	// of dead rows, which a queue table makes all the time.
	var opts []string
	if err := pool.QueryRow(t.Context(), `SELECT reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = 'inbox'`, schema).Scan(&opts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fillfactor=75", "autovacuum_vacuum_scale_factor=0"} {
		if !slices.Contains(opts, want) {
			t.Errorf("table options %v lack %s", opts, want)
		}
	}
	claimed := regexp.MustCompile(`\b(state|attempts|lease|lease_until|not_before|last_error)\b`)
	for _, d := range defs {
		if col := claimed.FindString(d); col != "" {
			t.Errorf("index depends on %s, which a claim or retry changes: %s", col, d)
		}
	}
}

// A database at schema 3, with messages in every state, migrates to the
// current schema and keeps working: open messages count and claim, finished
// ones prune.
func TestMigrateFromSchema3(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := testSchema(t, pool)
	table := pgx.Identifier{schema, "inbox"}.Sanitize()
	ib, err := pginbox.New(pool, &pginbox.Config{Table: schema + ".inbox", Channel: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	ctx := t.Context()
	migrations := pgx.Identifier{schema, "inbox_migrations"}.Sanitize()
	if _, err := pool.Exec(ctx, "CREATE TABLE "+migrations+" (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"); err != nil {
		t.Fatal(err)
	}
	for v, step := range pginbox.MigrationSteps(ib)[:3] {
		if _, err := pool.Exec(ctx, step); err != nil {
			t.Fatalf("step %d: %v", v+1, err)
		}
		if _, err := pool.Exec(ctx, "INSERT INTO "+migrations+" (version) VALUES ($1)", v+1); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for _, r := range []struct {
		id, state string
		finished  *time.Time
	}{
		{"p", "pending", nil},
		{"c", "claimed", nil},
		{"d", "done", &now},
		{"x", "dead", &now},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO `+table+` (id, body, received_at, state, not_before, lease, lease_until, finished_at)
VALUES ($1, '{}', $2, $3, $2, CASE WHEN $3 = 'claimed' THEN 'l' ELSE '' END, CASE WHEN $3 = 'claimed' THEN $2::timestamptz END, $4)`,
			[]byte(r.id), now.Add(-time.Hour), r.state, r.finished); err != nil {
			t.Fatalf("insert %s: %v", r.id, err)
		}
	}
	if err := ib.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if n, err := ib.Depth(ctx); err != nil || n != 2 {
		t.Errorf("Depth = %d, %v; want 2 (pending and claimed)", n, err)
	}
	got, err := ib.Claim(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	if diff := cmp.Diff([]string{"c", "p"}, ids); diff != "" {
		t.Errorf("claimed after migration (-want +got):\n%s", diff)
	}
	if n, err := ib.Prune(ctx, now.Add(time.Second)); err != nil || n != 2 {
		t.Errorf("Prune = %d, %v; want 2 (done and dead)", n, err)
	}
}

// A new table gets statistics as soon as it has rows enough, not when
// autovacuum comes round (up to a minute later, here never): without them,
// every claim reads and sorts the whole backlog.
func TestAnalyzesANewTable(t *testing.T) {
	t.Parallel()
	// Puts share an INSERT without a cap, and go one by one with one.
	for name, cfg := range map[string]*pginbox.Config{"shared insert": nil, "capped": {MaxPending: 1 << 20}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := testPool(t)
			db, schema := newInbox(t, pool, cfg)
			table := pgx.Identifier{schema, "inbox"}.Sanitize()
			if _, err := pool.Exec(t.Context(), `ALTER TABLE `+table+` SET (autovacuum_enabled = false)`); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for k := range 150 {
						if _, err := db.Put(t.Context(), &inbox.Message{ID: fmt.Sprintf("msg_%d_%d", w, k), Body: []byte(`{}`)}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			waitFor(t, 30*time.Second, "statistics for the table", func() (bool, error) {
				var tuples float64
				err := pool.QueryRow(t.Context(), `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, table).Scan(&tuples)
				return tuples >= 1000, err
			})
		})
	}
}
