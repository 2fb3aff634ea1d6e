// Package backend holds what every bundled inbox shares (the memory inbox
// in package inbox, boltinbox and pginbox): the key check every Put makes
// and the arrival-sequence cursors their List pages by. The limits and
// errors those use are defined here and re-exported by package inbox, so
// that inbox can use this package without an import cycle.
package backend

import (
	"errors"
	"fmt"
	"strconv"
)

// Package inbox's MaxKeyBytes, ErrKeyTooLong, MaxPage and ErrBadCursor; see
// their documentation there.
const (
	MaxKeyBytes = 1024
	MaxPage     = 500
)

var (
	ErrKeyTooLong = errors.New("inbox: key too long")
	ErrBadCursor  = errors.New("inbox: bad cursor")
)

// CheckKeys returns an error wrapping ErrKeyTooLong when a message's ID or
// job key is longer than MaxKeyBytes.
func CheckKeys(id, jobKey string) error {
	switch {
	case len(id) > MaxKeyBytes:
		return fmt.Errorf("%w: an ID of %d bytes, at most %d", ErrKeyTooLong, len(id), MaxKeyBytes)
	case len(jobKey) > MaxKeyBytes:
		return fmt.Errorf("%w: a job key of %d bytes, at most %d", ErrKeyTooLong, len(jobKey), MaxKeyBytes)
	}
	return nil
}

// PageLimit clamps a List limit to 1..MaxPage.
func PageLimit(limit int) int { return min(max(limit, 1), MaxPage) }

// SeqCursor encodes an arrival sequence number as a List cursor.
func SeqCursor(seq uint64) string { return strconv.FormatUint(seq, 10) }

// ParseSeqCursor reads a cursor made by SeqCursor; "" is 0, "from the
// newest". Anything else fails with an error wrapping ErrBadCursor.
func ParseSeqCursor(c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(c, 10, 64)
	if err != nil || n == 0 {
		if len(c) > 32 {
			c = c[:32] + "..."
		}
		return 0, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	return n, nil
}
