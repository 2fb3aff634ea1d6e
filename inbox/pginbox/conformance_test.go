package pginbox_test

import (
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/inboxtest"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	inboxtest.Run(t, func(t *testing.T, clock func() time.Time) inbox.Inbox {
		ib, _ := newInbox(t, pool, pginbox.WithClock(clock))
		return ib
	})
}

func TestTrackerConformance(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	inboxtest.RunTracker(t, func(t *testing.T) inbox.Tracker {
		ib, _ := newInbox(t, pool)
		return ib
	})
}

func TestAdminConformance(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	inboxtest.RunAdmin(t, func(t *testing.T, clock func() time.Time) inbox.Admin {
		ib, _ := newInbox(t, pool, pginbox.WithClock(clock))
		return ib
	})
}
