package pginbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/internal/backend"
	"github.com/geminihooks/geminihooks/ledger"
)

var errClosed = fmt.Errorf("pginbox: %w", inbox.ErrClosed)

// defaultTable is the inbox table unless Config.Table names another.
const defaultTable = "geminihooks_inbox"

// Config configures New. A nil *Config gives every default; New copies it,
// so later changes have no effect.
type Config struct {
	// Table is the inbox table, optionally schema-qualified ("app.inbox").
	// Names are plain identifiers (letters, digits, underscores), at most 52
	// bytes for the table; the ledger's tables are named after it. Two apps
	// sharing a database give each its own table and channel. Default
	// "geminihooks_inbox".
	Table string
	// Channel is the LISTEN/NOTIFY channel that wakes workers. Default: the
	// table name without its schema.
	Channel string
	// MaxPending caps how many messages may be pending or claimed; a Put
	// beyond it fails with inbox.ErrFull. The check counts open rows on
	// every Put and, under concurrency, may let a few more in. Default 0:
	// no cap.
	MaxPending int
	// Now is the clock for receive times, leases, retries and finish times;
	// they are sent as parameters, not read from the server, so tests can
	// control them. Replicas sharing a table need clocks that agree to well
	// within the lease duration. Default nil: time.Now.
	Now func() time.Time
	// Logger receives the notification listener's lost connections.
	// Default nil: discard.
	Logger *slog.Logger
}

// config is a Config with its defaults filled in.
type config struct {
	table      string
	channel    string
	clock      func() time.Time
	logger     *slog.Logger
	maxPending int
}

func newConfig(c *Config) (config, error) {
	var in Config
	if c != nil {
		in = *c
	}
	if in.MaxPending < 0 {
		return config{}, fmt.Errorf("pginbox: Config.MaxPending is %d, need 0 (no cap) or more", in.MaxPending)
	}
	cfg := config{table: in.Table, channel: in.Channel, clock: in.Now, logger: in.Logger, maxPending: in.MaxPending}
	if cfg.table == "" {
		cfg.table = defaultTable
	}
	if cfg.clock == nil {
		cfg.clock = time.Now
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.channel == "" {
		cfg.channel = cfg.table
		if _, t, ok := strings.Cut(cfg.table, "."); ok {
			cfg.channel = t
		}
	}
	return cfg, nil
}

// DB is an inbox and a job ledger in tables of a PostgreSQL database, shared
// by any number of processes, as New returns it. Claims lock rows with FOR
// UPDATE SKIP LOCKED and record a lease, so replicas never hand one message
// to two workers at once, and a crashed replica's messages return when
// their leases end.
type DB struct {
	// Store is the inbox: the queue a listener's workers use and the admin
	// view for a console or a CLI. Its Close stops the background
	// goroutines; it does not close the pool.
	inbox.Store
	// Ledger keeps launched jobs and the reconciler's lease in two more
	// tables of the same database, shared by the same fleet.
	Ledger ledger.Ledger

	s *store
}

// store is the inbox and, through jobLedger, the ledger of a DB.
type store struct {
	pool   *pgxpool.Pool
	names  names
	clock  func() time.Time
	logger *slog.Logger
	cfg    config
	sql    statements

	amu     sync.Mutex // guards analyze
	analyze analyzer

	mu        sync.Mutex // guards listening and the wait group against Close
	listening bool
	closed    atomic.Bool
	closing   chan struct{}
	// ctx is the background goroutines' context; Close cancels it, after
	// closing closing.
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	notify  chan struct{} // Notify's channel
	wakeup  chan struct{} // asks the announcer for a NOTIFY
	puts    chan *putReq  // Puts waiting for a putter
	claims  *group[claimReq, []*inbox.Message]
	acks    *group[ackReq, struct{}]
	settles *group[settleReq, struct{}]
}

var _ inbox.Store = (*store)(nil)

// New returns the inbox and ledger in the pool's database. It does not
// touch the database: call Migrate once at start-up. The caller keeps
// ownership of the pool; Close the DB to stop its background goroutines. It
// fails on a nil pool, a table or channel name that is not a plain
// identifier, or a config value out of range.
func New(pool *pgxpool.Pool, cfg *Config) (*DB, error) {
	if pool == nil {
		return nil, errors.New("pginbox: nil pool")
	}
	c, err := newConfig(cfg)
	if err != nil {
		return nil, err
	}
	n, err := newNames(c.table, c.channel)
	if err != nil {
		return nil, err
	}
	i := &store{
		pool:    pool,
		names:   n,
		clock:   c.clock,
		logger:  c.logger,
		cfg:     c,
		sql:     newStatements(n.qualified),
		closing: make(chan struct{}),
		notify:  make(chan struct{}, 1),
		wakeup:  make(chan struct{}, 1),
		puts:    make(chan *putReq, maxPutBatch),
	}
	i.ctx, i.cancel = context.WithCancel(context.Background())
	i.sql.settle = settleSQL(n.jobs)
	i.claims = newGroup(maxClaimBatch, i.claimBatch)
	i.acks = newGroup(maxAckBatch, i.ackBatch)
	i.settles = newGroup(maxSettleBatch, i.settleBatch)
	i.wg.Add(1 + putters + claimers + ackers + settlers)
	go i.announcer()
	for range putters {
		go i.putter()
	}
	for range claimers {
		go runGroup(i, i.claims, maxClaimBatch)
	}
	for range ackers {
		go runGroup(i, i.acks, maxAckBatch)
	}
	for range settlers {
		go runGroup(i, i.settles, maxSettleBatch)
	}
	return &DB{Store: i, Ledger: jobLedger{i}, s: i}, nil
}

// Migrate creates or upgrades the inbox and ledger tables, and their schema
// when the table name has one. It is safe to call from several processes at
// once: they take a transaction-scoped advisory lock, and each step is
// recorded, so a step runs once. A database migrated by a newer version of
// this package fails with ErrSchemaTooNew.
func (db *DB) Migrate(ctx context.Context) error { return db.s.migrate(ctx) }

// Transactional wraps fn as a handler whose writes commit together with the
// ack of the event it handles.
//
// The returned handler finds its claim with inbox.ClaimFrom, begins a
// transaction, locks the message row (so no other worker can claim it while
// fn runs, even if the lease runs out), runs fn, marks the message done and
// commits. If fn fails, everything rolls back and the listener retries as
// usual. If the lease was lost before the row was locked, fn does not run
// and the handler returns an error wrapping inbox.ErrLeaseLost. Either the
// user's writes and the ack both happen or neither does, so fn's effects
// happen once per message: effectively-once processing. The listener's own
// Ack afterwards is a no-op, since Ack is idempotent with the completing
// lease. Outside a listener whose inbox is this one, the handler fails with
// ErrNoClaim.
func (db *DB) Transactional(fn func(ctx context.Context, tx pgx.Tx, e *event.Event) error) func(ctx context.Context, e *event.Event) error {
	return db.s.transactional(fn)
}

// columns is what every message read selects, in scan order.
const columns = `seq, id, job_key, body, scheme, synthesized, received_at, state, attempts, not_before, last_error, lease, lease_until, finished_at`

type statements struct {
	put, putCapped, claim, ack, ackShared, release, settle, lookup, retry, deadLetter, get, prune, depth, lockClaim string
}

// noSync is a CTE, named nosync, that turns off synchronous_commit for its
// statement's own transaction (set_config's is_local), so that its commit
// does not wait for a WAL flush. The statement must join it, or it is not
// evaluated. Claims and acks use it: neither needs to survive a database
// crash (a lost claim returns its message to pending, a lost ack reruns
// its event, both within at-least-once delivery), and the next Put's
// synchronous commit flushes them anyway. Their commits then stop adding
// WAL flushes for the Puts, which are waited on by HTTP requests, to queue
// behind.
const noSync = `nosync AS (SELECT set_config('synchronous_commit', 'off', true))`

func newStatements(t string) statements {
	// finished_at is NULL exactly while a message is pending or claimed;
	// the index of open messages is partial on it (see schema step 4).
	open := `finished_at IS NULL`
	ackShared, release := claimAckSQL(t)
	return statements{
		ackShared: ackShared,
		release:   release,
		// ON CONFLICT with no target skips a row that conflicts with any
		// unique index: the primary key (id) or the partial unique index on
		// job_key, including rows inserted earlier by the same statement.
		// Either way the Put is a duplicate.
		// Concurrent Puts share one statement (see putShared): arrays of
		// column values, one element per message, in arrival order.
		put: `INSERT INTO ` + t + ` (id, job_key, body, scheme, synthesized, received_at, state, not_before)
SELECT id, job_key, body, scheme, synthesized, received_at, 'pending', not_before
FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::text[], $5::boolean[], $6::timestamptz[], $7::timestamptz[])
	AS m (id, job_key, body, scheme, synthesized, received_at, not_before)
ON CONFLICT DO NOTHING
RETURNING id, job_key`,
		putCapped: `INSERT INTO ` + t + ` (id, job_key, body, scheme, synthesized, received_at, state, not_before)
SELECT $1, $2, $3, $4, $5, $6, 'pending', $7
WHERE (SELECT count(*) FROM ` + t + ` WHERE ` + open + `) < $8
ON CONFLICT DO NOTHING`,
		// Oldest first among pending rows that are due and claims whose
		// lease ended. SKIP LOCKED lets concurrent claimers take disjoint rows.
		claim: `WITH ` + noSync + `, c AS (
	SELECT id FROM ` + t + `
	WHERE ` + open + ` AND ((state = 'pending' AND not_before <= $1) OR (state = 'claimed' AND lease_until <= $1))
	ORDER BY received_at, seq
	LIMIT $2
	FOR UPDATE SKIP LOCKED)
UPDATE ` + t + ` m SET state = 'claimed', attempts = m.attempts + 1, lease = gen_random_uuid()::text, lease_until = $3
FROM c, nosync WHERE m.id = c.id
RETURNING m.` + strings.ReplaceAll(columns, ", ", ", m."),
		// A done row keeps no body: it is only a dedupe record.
		ack: `UPDATE ` + t + ` SET state = 'done', finished_at = $3, lease_until = NULL, body = ''
WHERE id = $1 AND lease = $2 AND state = 'claimed' AND lease_until > $3`,
		lookup: `SELECT state, lease FROM ` + t + ` WHERE id = $1`,
		retry: `UPDATE ` + t + ` SET state = 'pending', not_before = $4, last_error = $5, lease = '', lease_until = NULL
WHERE id = $1 AND lease = $2 AND state = 'claimed' AND lease_until > $3`,
		deadLetter: `UPDATE ` + t + ` SET state = 'dead', finished_at = $3, last_error = $4, lease = '', lease_until = NULL
WHERE id = $1 AND lease = $2 AND state = 'claimed' AND lease_until > $3`,
		get: `SELECT ` + columns + ` FROM ` + t + ` WHERE id = $1`,
		prune: `WITH d AS (
	SELECT id FROM ` + t + ` WHERE finished_at < $1
	ORDER BY finished_at LIMIT $2
	FOR UPDATE SKIP LOCKED)
DELETE FROM ` + t + ` m USING d WHERE m.id = d.id`,
		depth: `SELECT count(*) FROM ` + t + ` WHERE ` + open,
		// The transactional handler locks its row for the length of the
		// user's transaction, so no other worker can claim it meanwhile even
		// if the lease runs out.
		lockClaim: `SELECT 1 FROM ` + t + ` WHERE id = $1 AND lease = $2 AND state = 'claimed' AND lease_until > $3 FOR UPDATE`,
	}
}

// scanMessage reads one row selected with columns. A claim whose lease has
// ended reads as pending; the lease shows only while claimed.
func scanMessage(row pgx.Row, now time.Time) (*inbox.Message, int64, error) {
	var (
		m          inbox.Message
		id, jobKey []byte
		seq        int64
		state      string
		leaseUntil *time.Time
		finishedAt *time.Time
	)
	err := row.Scan(&seq, &id, &jobKey, &m.Body, &m.Scheme, &m.Synthesized, &m.ReceivedAt, &state,
		&m.Attempts, &m.NotBefore, &m.LastError, &m.Lease, &leaseUntil, &finishedAt)
	if err != nil {
		return nil, 0, err
	}
	m.ID, m.JobKey = string(id), string(jobKey)
	m.State = inbox.State(state)
	if leaseUntil != nil {
		m.LeaseUntil = *leaseUntil
	}
	if finishedAt != nil {
		m.FinishedAt = *finishedAt
	}
	if m.State == inbox.StateClaimed && !now.Before(m.LeaseUntil) {
		m.State = inbox.StatePending
		m.NotBefore = m.LeaseUntil
	}
	if m.State != inbox.StateClaimed {
		m.Lease = ""
		m.LeaseUntil = time.Time{}
	}
	return &m, seq, nil
}

// text makes s storable in a text column, which rejects NUL bytes and
// invalid UTF-8. It is used for diagnostics (scheme, last error), where a
// replacement character is acceptable.
func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func (i *store) check(ctx context.Context) error {
	if i.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

// Put implements inbox.Inbox with INSERT ... ON CONFLICT DO NOTHING.
func (i *store) Put(ctx context.Context, m *inbox.Message) (bool, error) {
	if err := i.check(ctx); err != nil {
		return false, err
	}
	if m == nil || m.ID == "" {
		return false, errors.New("pginbox: message without an ID")
	}
	if err := backend.CheckKeys(m.ID, m.JobKey); err != nil {
		return false, fmt.Errorf("pginbox: put: %w", err)
	}
	at := m.ReceivedAt
	body := m.Body
	if body == nil {
		body = []byte{}
	}
	now := i.clock()
	if at.IsZero() {
		at = now
	}
	if i.cfg.maxPending == 0 {
		return i.putShared(ctx, &putReq{ctx: ctx, id: []byte(m.ID), jobKey: []byte(m.JobKey), body: body,
			scheme: text(m.Scheme), synthesized: m.Synthesized, receivedAt: at, now: now})
	}
	tag, err := i.pool.Exec(ctx, i.sql.putCapped, []byte(m.ID), []byte(m.JobKey), body, text(m.Scheme), m.Synthesized, at, now, i.cfg.maxPending)
	if err != nil {
		return false, fmt.Errorf("pginbox: put: %w", err)
	}
	if tag.RowsAffected() == 1 {
		i.announce()
		i.stored(1)
		return true, nil
	}
	// Nothing stored: a duplicate, or the cap.
	var dup bool
	err = i.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+i.names.qualified+` WHERE id = $1 OR (length($2::bytea) > 0 AND job_key = $2))`, []byte(m.ID), []byte(m.JobKey)).Scan(&dup)
	if err != nil {
		return false, fmt.Errorf("pginbox: put: %w", err)
	}
	if dup {
		return false, nil
	}
	return false, fmt.Errorf("pginbox: %d messages pending: %w", i.cfg.maxPending, inbox.ErrFull)
}

// Claim implements inbox.Inbox.
func (i *store) Claim(ctx context.Context, n int, lease time.Duration) ([]*inbox.Message, error) {
	if err := i.check(ctx); err != nil {
		return nil, err
	}
	if n <= 0 {
		return []*inbox.Message{}, nil
	}
	if lease <= 0 {
		return nil, fmt.Errorf("pginbox: lease %v is not positive", lease)
	}
	return submit(ctx, i, i.claims, claimReq{n: n, lease: lease, now: i.clock()})
}

// ended explains why an update guarded by a lease changed no row. With
// doneOK, a done message whose completing lease is lease counts as success.
func (i *store) ended(ctx context.Context, q querier, id, lease string, doneOK bool) error {
	var state, stored string
	err := q.QueryRow(ctx, i.sql.lookup, []byte(id)).Scan(&state, &stored)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pginbox: message %q: %w", id, inbox.ErrNotFound)
	case err != nil:
		return fmt.Errorf("pginbox: message %q: %w", id, err)
	case doneOK && state == string(inbox.StateDone) && lease != "" && stored == lease:
		return nil
	default:
		return fmt.Errorf("pginbox: message %q: %w", id, inbox.ErrLeaseLost)
	}
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Ack implements inbox.Inbox. Acking a done message again with the lease
// that completed it returns nil, so Ack after Transactional is harmless.
func (i *store) Ack(ctx context.Context, id, lease string) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	_, err := submit(ctx, i, i.acks, ackReq{id: id, lease: lease, now: i.clock()})
	return err
}

// Retry implements inbox.Inbox.
func (i *store) Retry(ctx context.Context, id, lease string, at time.Time, reason string) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	now := i.clock()
	tag, err := i.pool.Exec(ctx, i.sql.retry, []byte(id), lease, now, at, text(reason))
	if err != nil {
		return fmt.Errorf("pginbox: retry: %w", err)
	}
	if tag.RowsAffected() == 1 {
		if !at.After(now) {
			i.announce()
		}
		return nil
	}
	return i.ended(ctx, i.pool, id, lease, false)
}

// DeadLetter implements inbox.Inbox.
func (i *store) DeadLetter(ctx context.Context, id, lease, reason string) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	tag, err := i.pool.Exec(ctx, i.sql.deadLetter, []byte(id), lease, i.clock(), text(reason))
	if err != nil {
		return fmt.Errorf("pginbox: dead-letter: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return i.ended(ctx, i.pool, id, lease, false)
}

// Get implements inbox.Admin.
func (i *store) Get(ctx context.Context, id string) (*inbox.Message, error) {
	if err := i.check(ctx); err != nil {
		return nil, err
	}
	m, _, err := scanMessage(i.pool.QueryRow(ctx, i.sql.get, []byte(id)), i.clock())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pginbox: message %q: %w", id, inbox.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pginbox: get: %w", err)
	}
	return m, nil
}

// pruneBatch bounds one DELETE, so pruning a large backlog does not hold
// locks on many rows at once.
const pruneBatch = 5000

// Prune implements inbox.Inbox.
func (i *store) Prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		if err := i.check(ctx); err != nil {
			return total, err
		}
		tag, err := i.pool.Exec(ctx, i.sql.prune, planEach, before, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("pginbox: prune: %w", err)
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}

// Depth implements inbox.Inbox.
func (i *store) Depth(ctx context.Context) (int, error) {
	if err := i.check(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := i.pool.QueryRow(ctx, i.sql.depth).Scan(&n); err != nil {
		return 0, fmt.Errorf("pginbox: depth: %w", err)
	}
	return n, nil
}

// Close stops the notification goroutines. It does not close the pool.
func (i *store) Close() error {
	i.mu.Lock()
	if i.closed.Swap(true) {
		i.mu.Unlock()
		return nil
	}
	close(i.closing)
	i.cancel()
	i.mu.Unlock()
	i.wg.Wait()
	return nil
}
