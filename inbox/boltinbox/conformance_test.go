package boltinbox_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/inbox/inboxtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	inboxtest.Run(t, func(t *testing.T, clock func() time.Time) inbox.Inbox {
		ib, err := boltinbox.Open(filepath.Join(t.TempDir(), "inbox.db"), boltinbox.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ib.Close() })
		return ib
	})
}

func TestTrackerConformance(t *testing.T) {
	t.Parallel()
	inboxtest.RunTracker(t, func(t *testing.T) inbox.Tracker {
		ib, err := boltinbox.Open(filepath.Join(t.TempDir(), "inbox.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ib.Close() })
		return ib
	})
}

func TestAdminConformance(t *testing.T) {
	t.Parallel()
	inboxtest.RunAdmin(t, func(t *testing.T, clock func() time.Time) inbox.Admin {
		ib, err := boltinbox.Open(filepath.Join(t.TempDir(), "inbox.db"), boltinbox.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ib.Close() })
		return ib
	})
}
