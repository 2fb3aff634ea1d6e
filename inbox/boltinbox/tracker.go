package boltinbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/geminihooks/geminihooks/ledger"
)

// Tracker buckets: tracked maps a job name to its JSON; due indexes the
// unsettled ones by NextCheck then name; owners maps a reconciler lease name
// to its owner and end. They are created in files made before they existed.
var (
	bktTracked     = []byte("tracked")
	bktDue         = []byte("due")
	bktOwners      = []byte("owners")
	trackerBuckets = [][]byte{bktTracked, bktDue, bktOwners}
)

// jobLedger is a DB's ledger: its store, seen as a ledger.Ledger.
type jobLedger struct{ *store }

var _ ledger.Ledger = jobLedger{}

// cloneJob copies j, which an op may read after the call that gave it.
func cloneJob(j *ledger.Job) *ledger.Job {
	c := *j
	c.Events = append([]string(nil), j.Events...)
	c.UserMetadata = append([]byte(nil), j.UserMetadata...)
	return &c
}

func dueKey(j *ledger.Job) []byte {
	k := make([]byte, 8, 8+len(j.Name))
	binary.BigEndian.PutUint64(k, uint64(j.NextCheck.UnixNano())^(1<<63))
	return append(k, j.Name...)
}

func getTracked(tx *bolt.Tx, name string) (*ledger.Job, error) {
	v := tx.Bucket(bktTracked).Get([]byte(name))
	if v == nil {
		return nil, fmt.Errorf("boltinbox: tracked job %q: %w", name, ledger.ErrNotFound)
	}
	j := new(ledger.Job)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, fmt.Errorf("boltinbox: tracked job %q: %w: %w", name, ErrCorrupt, err)
	}
	return j, nil
}

// putTracked stores j and keeps the due index in step with it; old is the
// stored version j replaces, or nil.
func (w *wtx) putTracked(old, j *ledger.Job) error {
	w.dirty = true
	due := w.tx.Bucket(bktDue)
	if old != nil && !old.Settled {
		if err := due.Delete(dueKey(old)); err != nil {
			return storageErr(err)
		}
	}
	if !j.Settled {
		if err := due.Put(dueKey(j), []byte(j.Name)); err != nil {
			return storageErr(err)
		}
	}
	v, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return storageErr(w.tx.Bucket(bktTracked).Put([]byte(j.Name), v))
}

// Track implements ledger.Ledger.
func (i jobLedger) Track(ctx context.Context, j *ledger.Job) error {
	if j == nil || j.Name == "" {
		return errors.New("boltinbox: tracked job without a name")
	}
	c := cloneJob(j)
	return i.do(ctx, func(w *wtx) error {
		old, err := getTracked(w.tx, c.Name)
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return err
		}
		return w.putTracked(old, c)
	})
}

// Settle implements ledger.Ledger. Most events name no tracked job, or
// one already settled: a read finds that without waiting for the writer.
// The rest share the next commit (lazy).
func (i jobLedger) Settle(ctx context.Context, name string, at time.Time) error {
	open := false
	err := i.view(func(tx *bolt.Tx) error {
		j, err := getTracked(tx, name)
		if errors.Is(err, ledger.ErrNotFound) {
			return nil
		}
		open = err == nil && !j.Settled
		return err
	})
	if err != nil || !open {
		return err
	}
	return i.lazy(ctx, func(w *wtx) error {
		j, err := getTracked(w.tx, name)
		if errors.Is(err, ledger.ErrNotFound) {
			return nil
		}
		if err != nil || j.Settled {
			return err
		}
		c := cloneJob(j)
		c.Settled, c.SettledAt = true, at
		return w.putTracked(j, c)
	})
}

// Reschedule implements ledger.Ledger.
func (i jobLedger) Reschedule(ctx context.Context, name string, next, endedAt time.Time) error {
	return i.do(ctx, func(w *wtx) error {
		j, err := getTracked(w.tx, name)
		if err != nil || j.Settled {
			return err
		}
		c := cloneJob(j)
		c.NextCheck, c.EndedAt = next, endedAt
		c.Checks++
		return w.putTracked(j, c)
	})
}

// Job implements ledger.Ledger.
func (i jobLedger) Job(ctx context.Context, name string) (*ledger.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var j *ledger.Job
	err := i.view(func(tx *bolt.Tx) error {
		var err error
		j, err = getTracked(tx, name)
		return err
	})
	return j, err
}

// Due implements ledger.Ledger.
func (i jobLedger) Due(ctx context.Context, now time.Time, limit int) ([]*ledger.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []*ledger.Job{}
	err := i.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktDue).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit && len(k) >= 8 && !keyTime(k).After(now); k, v = c.Next() {
			j, err := getTracked(tx, string(v))
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	return out, err
}

type owner struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// AcquireLease implements ledger.Ledger. The lease arbitrates between
// reconcilers in this process: one process has the file.
func (i jobLedger) AcquireLease(ctx context.Context, lease, who string, now time.Time, ttl time.Duration) error {
	return i.do(ctx, func(w *wtx) error {
		b := w.tx.Bucket(bktOwners)
		if v := b.Get([]byte(lease)); v != nil {
			var o owner
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("boltinbox: lease %q: %w: %w", lease, ErrCorrupt, err)
			}
			if o.Owner != who && now.Before(o.Until) {
				return fmt.Errorf("boltinbox: lease %q: %w", lease, ledger.ErrLeaseHeld)
			}
		}
		v, err := json.Marshal(owner{Owner: who, Until: now.Add(ttl)})
		if err != nil {
			return err
		}
		w.dirty = true
		return storageErr(b.Put([]byte(lease), v))
	})
}

// ReleaseLease implements ledger.Ledger.
func (i jobLedger) ReleaseLease(ctx context.Context, lease, who string) error {
	return i.do(ctx, func(w *wtx) error {
		b := w.tx.Bucket(bktOwners)
		v := b.Get([]byte(lease))
		if v == nil {
			return nil
		}
		var o owner
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("boltinbox: lease %q: %w: %w", lease, ErrCorrupt, err)
		}
		if o.Owner != who {
			return nil
		}
		w.dirty = true
		return storageErr(b.Delete([]byte(lease)))
	})
}

// Prune implements ledger.LedgerPruner. Settled jobs have no index,
// so it walks the tracked jobs in name order, looking at no more than the
// batch size of them per commit, so a large tracker does not hold up Puts;
// a commit that deletes nothing skips the fsync.
func (i jobLedger) Prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	var from []byte // the first name this commit looks at; nil for the start
	for {
		var (
			n    int
			next []byte // the first name the next commit looks at; nil when done
		)
		// fn may run more than once, when another op in its commit fails,
		// so it reads from and sets only n and next.
		err := i.do(ctx, func(w *wtx) error {
			n, next = 0, nil
			var old [][]byte
			c := w.tx.Bucket(bktTracked).Cursor()
			k, _ := c.First()
			if from != nil {
				k, _ = c.Seek(from)
			}
			for seen := 0; k != nil; k, _ = c.Next() {
				if seen == i.cfg.maxBatch {
					next = append([]byte(nil), k...)
					break
				}
				seen++
				j, err := getTracked(w.tx, string(k))
				if err != nil {
					return err
				}
				if j.Settled && j.SettledAt.Before(before) {
					old = append(old, append([]byte(nil), k...))
				}
			}
			// Deleting only after the walk: an op must not write before it
			// has decided to succeed, and a cursor must not outlive a
			// delete under it.
			b := w.tx.Bucket(bktTracked)
			for _, k := range old {
				w.dirty = true
				if err := b.Delete(k); err != nil {
					return storageErr(err)
				}
				n++
			}
			return nil
		})
		if err != nil {
			// n and next are not read: when ctx ended, do returned without
			// waiting, and fn may still be running.
			return total, err
		}
		total += n
		if next == nil {
			return total, nil
		}
		from = next
	}
}
