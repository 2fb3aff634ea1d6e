package pginbox_test

import (
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/inboxtest"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/ledger/ledgertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	inboxtest.Run(t, func(t *testing.T, clock func() time.Time) inbox.Store {
		db, _ := newInbox(t, pool, &pginbox.Config{Now: clock})
		return db
	})
}

func TestLedgerConformance(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		db, _ := newInbox(t, pool, nil)
		return db.Ledger
	})
}
