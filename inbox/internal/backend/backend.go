// Package backend holds what inbox/boltinbox and inbox/pginbox share: the
// key check every Put makes and the arrival-sequence cursors their List
// pages by. (Package inbox has the same, unexported, for its memory inbox.)
package backend

import (
	"fmt"
	"strconv"

	"github.com/geminihooks/geminihooks/inbox"
)

// CheckKeys returns an error wrapping inbox.ErrKeyTooLong when m's ID or
// JobKey is longer than inbox.MaxKeyBytes.
func CheckKeys(m *inbox.Message) error {
	switch {
	case len(m.ID) > inbox.MaxKeyBytes:
		return fmt.Errorf("%w: an ID of %d bytes, at most %d", inbox.ErrKeyTooLong, len(m.ID), inbox.MaxKeyBytes)
	case len(m.JobKey) > inbox.MaxKeyBytes:
		return fmt.Errorf("%w: a job key of %d bytes, at most %d", inbox.ErrKeyTooLong, len(m.JobKey), inbox.MaxKeyBytes)
	}
	return nil
}

// PageLimit clamps a List limit to 1..inbox.MaxPage.
func PageLimit(limit int) int { return min(max(limit, 1), inbox.MaxPage) }

// SeqCursor encodes an arrival sequence number as a List cursor.
func SeqCursor(seq uint64) string { return strconv.FormatUint(seq, 10) }

// ParseSeqCursor reads a cursor made by SeqCursor; "" is 0, "from the
// newest". Anything else fails with an error wrapping inbox.ErrBadCursor.
func ParseSeqCursor(c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(c, 10, 64)
	if err != nil || n == 0 {
		if len(c) > 32 {
			c = c[:32] + "..."
		}
		return 0, fmt.Errorf("%w: %q", inbox.ErrBadCursor, c)
	}
	return n, nil
}
