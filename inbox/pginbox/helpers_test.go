package pginbox_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/inbox/pginbox"
)

// testPool connects to the server named by GEMINIHOOKS_TEST_POSTGRES, or
// skips the test when it is unset.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := os.Getenv("GEMINIHOOKS_TEST_POSTGRES")
	if url == "" {
		t.Skip("GEMINIHOOKS_TEST_POSTGRES is unset; set it to a PostgreSQL URL (as .ci/run does) to run PostgreSQL tests")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgxpool.ParseConfig: %v", err)
	}
	// Enough connections for 32 concurrent deliveries plus the workers:
	// with pgxpool's default (4 on this machine) they queue for a connection.
	cfg.MaxConns = 48
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// testSchema creates a schema that only this test uses and drops it when
// the test ends, so tests run in parallel against one database.
func testSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "geminihooks_test_" + hex.EncodeToString(b[:])
	if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// newInbox returns a migrated inbox in a schema of its own.
// Table and Channel in cfg, which may be nil, are replaced.
func newInbox(t testing.TB, pool *pgxpool.Pool, cfg *pginbox.Config) (*pginbox.DB, string) {
	t.Helper()
	schema := testSchema(t, pool)
	var c pginbox.Config
	if cfg != nil {
		c = *cfg
	}
	c.Table, c.Channel = schema+".inbox", schema
	ib, err := pginbox.New(pool, &c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := ib.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	t.Cleanup(func() { ib.Close() })
	return ib, schema
}

// lazyPool is a pool that never connects, for tests that need none.
func lazyPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// doublingFrom is a listener Backoff: base after the first attempt,
// doubling with each one, at most an hour.
func doublingFrom(base time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < time.Hour; i++ {
			d *= 2
		}
		return min(d, time.Hour)
	}
}
