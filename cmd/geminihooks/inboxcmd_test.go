package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
)

// fillInbox stores three events: wh_done handled, wh_dead dead-lettered,
// wh_wait pending.
func fillInbox(t *testing.T, ib inbox.Inbox) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"wh_done", "wh_dead", "wh_wait"} {
		typ := map[string]string{"wh_done": "batch.succeeded", "wh_dead": "batch.failed", "wh_wait": "video.generated"}[id]
		body := `{"type":"` + typ + `","data":{"id":"jobs/` + id + `"}}`
		if _, err := ib.Put(ctx, &inbox.Message{ID: id, JobKey: typ + "\x00jobs/" + id, Body: []byte(body), Scheme: "v1", ReceivedAt: at.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := ib.Claim(ctx, 2, time.Minute)
	if err != nil || len(ms) != 2 {
		t.Fatalf("Claim = %d, %v", len(ms), err)
	}
	if err := ib.Ack(ctx, ms[0].ID, ms[0].Lease); err != nil {
		t.Fatal(err)
	}
	if err := ib.DeadLetter(ctx, ms[1].ID, ms[1].Lease, "permanent: results bucket not found"); err != nil {
		t.Fatal(err)
	}
}

func TestInboxCommands(t *testing.T) {
	t.Parallel()
	sources := map[string]func(t *testing.T) []string{
		"bbolt": func(t *testing.T) []string {
			path := filepath.Join(t.TempDir(), "inbox.db")
			ib, err := boltinbox.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			fillInbox(t, ib)
			ib.Close()
			return []string{"--inbox", path}
		},
		"postgres": func(t *testing.T) []string {
			url := os.Getenv("GEMINIHOOKS_TEST_POSTGRES")
			if url == "" {
				t.Skip("GEMINIHOOKS_TEST_POSTGRES is unset; set it to a PostgreSQL URL (as .ci/run does) to run PostgreSQL tests")
			}
			pool, err := pgxpool.New(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			b := make([]byte, 6)
			rand.Read(b)
			table := "clitest_" + hex.EncodeToString(b)
			ib, err := pginbox.New(pool, &pginbox.Config{Table: table})
			if err != nil {
				t.Fatal(err)
			}
			if err := ib.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ib.Close()
				pool.Exec(context.Background(), `DROP TABLE IF EXISTS `+table+`, `+table+`_jobs, `+table+`_leases, `+table+`_migrations`)
			})
			fillInbox(t, ib)
			return []string{"--inbox", url, "--table", table}
		},
	}
	for name, open := range sources {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := open(t)
			cli := func(want int, args ...string) (string, string) {
				t.Helper()
				code, out, errs := runCLI(t, nil, append(append([]string{"inbox"}, args...), src...)...)
				if code != want {
					t.Fatalf("inbox %q: exit %d, want %d\n%s%s", args, code, want, out, errs)
				}
				return out, errs
			}
			out, _ := cli(exitOK, "list")
			if !strings.Contains(out, "WEBHOOK-ID") || strings.Index(out, "wh_wait") > strings.Index(out, "wh_done") {
				t.Errorf("list, newest first:\n%s", out)
			}
			out, _ = cli(exitOK, "list", "--json", "--state", "dead")
			var got messageLine
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("list --json: %v\n%s", err, out)
			}
			if diff := cmp.Diff(messageLine{WebhookID: "wh_dead", State: inbox.StateDead, Type: "batch.failed", JobID: "jobs/wh_dead", Scheme: "v1",
				Attempts: 1, LastError: "permanent: results bucket not found"}, got,
				cmpopts.IgnoreFields(messageLine{}, "ReceivedAt", "FinishedAt", "Event")); diff != "" {
				t.Errorf("list --json --state dead (-want +got):\n%s", diff)
			}
			out, errs := cli(exitOK, "list", "--limit", "1", "--type", "video.generated")
			if !strings.Contains(out, "wh_wait") || strings.Contains(out, "wh_dead") || strings.Contains(errs, "more:") {
				t.Errorf("list --type:\n%s%s", out, errs)
			}
			_, errs = cli(exitOK, "list", "--limit", "1")
			cursor := strings.TrimSpace(strings.TrimPrefix(errs, "more: --after "))
			out, _ = cli(exitOK, "list", "--limit", "5", "--after", cursor)
			if strings.Contains(out, "wh_wait") || !strings.Contains(out, "wh_done") {
				t.Errorf("second page after %q:\n%s", cursor, out)
			}
			cli(exitUsage, "list", "--after", "junk")
			cli(exitUsage, "list", "--state", "asleep")

			out, _ = cli(exitOK, "show", "wh_dead")
			for _, want := range []string{"state        dead, 1 attempts", `"id": "jobs/wh_dead"`, "last error   permanent: results bucket not found"} {
				if !strings.Contains(out, want) {
					t.Errorf("show lacks %q:\n%s", want, out)
				}
			}
			out, _ = cli(exitOK, "dead", "--json")
			if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, `"webhook_id":"wh_dead"`) {
				t.Errorf("dead --json:\n%s", out)
			}

			out, _ = cli(exitOK, "replay", "wh_dead")
			if out != "replayed wh_dead\n" {
				t.Errorf("replay: %q", out)
			}
			out, _ = cli(exitOK, "show", "wh_dead", "--json")
			if !strings.Contains(out, `"state":"pending"`) || !strings.Contains(out, `"attempts":0`) {
				t.Errorf("after replay: %s", out)
			}
			_, errs = cli(exitFailure, "replay", "wh_done", "wh_nope")
			if !strings.Contains(errs, "keeps no body") || !strings.Contains(errs, "not found") {
				t.Errorf("replay of a handled and an unknown event:\n%s", errs)
			}
			cli(exitUsage, "replay")
			cli(exitUsage, "frobnicate")
		})
	}
}

func TestInboxCommandRefusesMemoryMissingAndLockedFiles(t *testing.T) {
	t.Parallel()
	if code, _, errs := runCLI(t, nil, "inbox", "list", "--inbox", "memory"); code != exitFailure || !strings.Contains(errs, "--console") {
		t.Errorf("--inbox memory: exit %d, %s", code, errs)
	}
	path := filepath.Join(t.TempDir(), "inbox.db")
	if code, _, errs := runCLI(t, nil, "inbox", "list", "--inbox", path); code != exitFailure || !strings.Contains(errs, "no such file") {
		t.Errorf("a missing file: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("inbox list created the missing file")
	}
	ib, err := boltinbox.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	code, _, errs := runCLI(t, nil, "inbox", "list", "--inbox", path)
	if code != exitFailure || !strings.Contains(errs, "open in another process") {
		t.Errorf("a file in use: exit %d, %s", code, errs)
	}
}
