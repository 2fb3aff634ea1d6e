package pginbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// identRE is what a table, schema or channel name may be: a plain
// PostgreSQL identifier, which is still quoted wherever it is used.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxIdent is PostgreSQL's identifier length (NAMEDATALEN - 1).
const maxIdent = 63

// longestSuffix is the longest suffix added to the table name for the names
// derived from it.
const longestSuffix = len("_migrations")

// names holds the quoted SQL names derived from the configured table.
type names struct {
	schema     string // unquoted; "" when the search path decides
	table      string // unquoted, without schema
	qualified  string // quoted, with schema when given
	migrations string // quoted, with schema when given
	jobs       string // quoted tracked-jobs table
	leases     string // quoted reconciler-lease table
	channel    string // unquoted: pg_notify takes it as text, LISTEN quoted
}

func checkIdent(kind, s string, max int) error {
	if !identRE.MatchString(s) || len(s) > max {
		return fmt.Errorf("pginbox: %s name %q must be letters, digits and underscores, not starting with a digit, at most %d bytes", kind, s, max)
	}
	return nil
}

func newNames(table, channel string) (names, error) {
	n := names{channel: channel}
	n.table = table
	if s, t, ok := strings.Cut(table, "."); ok {
		n.schema, n.table = s, t
		if err := checkIdent("schema", s, maxIdent); err != nil {
			return names{}, err
		}
	}
	if err := checkIdent("table", n.table, maxIdent-longestSuffix); err != nil {
		return names{}, err
	}
	if err := checkIdent("channel", channel, maxIdent); err != nil {
		return names{}, err
	}
	n.qualified = n.ident(n.table)
	n.migrations = n.ident(n.table + "_migrations")
	n.jobs = n.ident(n.table + "_jobs")
	n.leases = n.ident(n.table + "_leases")
	return n, nil
}

// ident quotes name, in the configured schema when there is one.
func (n names) ident(name string) string {
	if n.schema == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{n.schema, name}.Sanitize()
}

// index quotes an index name; indexes live in their table's schema.
func (n names) index(suffix string) string {
	return pgx.Identifier{n.table + suffix}.Sanitize()
}

// migrations are applied in order, each once, and recorded by number in the
// migrations table. Never edit one that has shipped: add another.
func (n names) migrationSteps() []string {
	t := n.qualified
	return []string{
		// 1: the inbox table. id and job_key are bytea: they come from the
		// sender and text rejects NUL bytes and invalid UTF-8. seq breaks
		// ties between equal times. lease stays on a done row so an ack
		// repeated with the completing lease is recognised.
		fmt.Sprintf(`CREATE TABLE %[1]s (
	seq          bigint GENERATED ALWAYS AS IDENTITY,
	id           bytea NOT NULL PRIMARY KEY,
	job_key      bytea NOT NULL DEFAULT '',
	body         bytea NOT NULL,
	scheme       text NOT NULL DEFAULT '',
	synthesized  boolean NOT NULL DEFAULT false,
	received_at  timestamptz NOT NULL,
	state        text NOT NULL CHECK (state IN ('pending', 'claimed', 'done', 'dead')),
	attempts     integer NOT NULL DEFAULT 0,
	not_before   timestamptz NOT NULL,
	last_error   text NOT NULL DEFAULT '',
	lease        text NOT NULL DEFAULT '',
	lease_until  timestamptz,
	finished_at  timestamptz
);
CREATE UNIQUE INDEX %[2]s ON %[1]s (job_key) WHERE job_key <> '';
CREATE INDEX %[3]s ON %[1]s (received_at, seq) WHERE state IN ('pending', 'claimed');
CREATE INDEX %[4]s ON %[1]s (finished_at, seq) WHERE state IN ('done', 'dead');`,
			t, n.index("_job_key"), n.index("_open"), n.index("_finished")),
		// 2: tracked jobs and reconciler leases (the ledger).
		fmt.Sprintf(`CREATE TABLE %[1]s (
	name           text NOT NULL PRIMARY KEY,
	kind           text NOT NULL,
	events         text[] NOT NULL DEFAULT '{}',
	user_metadata  bytea,
	launched_at    timestamptz NOT NULL,
	next_check     timestamptz NOT NULL,
	ended_at       timestamptz NOT NULL,
	checks         integer NOT NULL DEFAULT 0,
	settled        boolean NOT NULL DEFAULT false,
	settled_at     timestamptz NOT NULL
);
CREATE INDEX %[2]s ON %[1]s (next_check, name) WHERE NOT settled;
CREATE TABLE %[3]s (
	name   text NOT NULL PRIMARY KEY,
	owner  text NOT NULL,
	until  timestamptz NOT NULL
);`, n.jobs, n.index("_jobs_due"), n.leases),
		// 3: arrival order, for inbox.Admin's List, newest first by seq.
		fmt.Sprintf(`CREATE INDEX %[2]s ON %[1]s (seq);`, t, n.index("_seq")),
		// 4: indexes that no claim changes. A partial index's predicate
		// counts as an indexed column, so with state in the predicates a
		// claim or a retry rewrote every index entry of its row. With
		// finished_at instead (NULL exactly while a message is pending or
		// claimed), they are heap-only (HOT) updates, and the free space
		// the fill factor leaves on each page gives them room there.
		// Every event leaves dead row versions and index entries behind,
		// which claims scan past until vacuum removes them: a queue table
		// wants vacuuming after a fixed number of changes, not after a
		// fifth of the table (the default) has died.
		fmt.Sprintf(`ALTER TABLE %[1]s SET (fillfactor = 75, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000);
CREATE INDEX %[2]s ON %[1]s (received_at, seq) WHERE finished_at IS NULL;
CREATE INDEX %[3]s ON %[1]s (finished_at, seq) WHERE finished_at IS NOT NULL;
DROP INDEX %[4]s;
DROP INDEX %[5]s;`, t, n.index("_unfinished"), n.index("_ended"), n.ident(n.table+"_open"), n.ident(n.table+"_finished")),
	}
}

// SchemaVersion is the schema version this package creates and expects.
const SchemaVersion = 4

// ErrSchemaTooNew reports a database migrated by a newer version of this
// package. Upgrade the program rather than run old code against it.
var ErrSchemaTooNew = errors.New("pginbox: database schema is newer than this package")

// lockKey is the advisory lock that serialises migrations of one table, so
// replicas that start together do not race to create it.
func (n names) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("geminihooks/pginbox:" + n.schema + "." + n.table))
	return int64(h.Sum64())
}

// migrate is DB.Migrate.
func (i *store) migrate(ctx context.Context) error {
	if i.closed.Load() {
		return errClosed
	}
	err := pgx.BeginFunc(ctx, i.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, i.names.lockKey()); err != nil {
			return err
		}
		if i.names.schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{i.names.schema}.Sanitize()); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+i.names.migrations+` (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+i.names.migrations).Scan(&version); err != nil {
			return err
		}
		steps := i.names.migrationSteps()
		if version > len(steps) {
			return fmt.Errorf("%w: version %d, this package knows %d", ErrSchemaTooNew, version, len(steps))
		}
		for v := version + 1; v <= len(steps); v++ {
			if _, err := tx.Exec(ctx, steps[v-1]); err != nil {
				return fmt.Errorf("step %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+i.names.migrations+` (version) VALUES ($1)`, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pginbox: migrate: %w", err)
	}
	return nil
}
