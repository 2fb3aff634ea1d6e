package boltinbox_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/inbox/inboxtest"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/ledger/ledgertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	inboxtest.Run(t, func(t *testing.T, clock func() time.Time) inbox.Store {
		db, err := boltinbox.Open(filepath.Join(t.TempDir(), "inbox.db"), &boltinbox.Config{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestLedgerConformance(t *testing.T) {
	t.Parallel()
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		db, err := boltinbox.Open(filepath.Join(t.TempDir(), "inbox.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.Ledger
	})
}
