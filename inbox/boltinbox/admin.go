package boltinbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/internal/backend"
)

// bktArrivals indexes every message by arrival sequence, for Admin.List.
// Open adds it to files made before it existed.
var bktArrivals = []byte("arrivals")

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// settle waits until the file holds every message whose Put has returned:
// an empty commit, which the writer makes with the log's queue.
func (i *store) settle(ctx context.Context) error {
	return i.do(ctx, func(*wtx) error { return nil })
}

// List implements inbox.Admin. A page reads the messages it walks past:
// with a filter on Type or JobID, every older one until the page is full.
func (i *store) List(ctx context.Context, f inbox.Filter, cursor string, limit int) (*inbox.Page, error) {
	before, err := backend.ParseSeqCursor(cursor)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit = backend.PageLimit(limit)
	if err := i.settle(ctx); err != nil {
		return nil, err
	}
	now := i.clock()
	var p *inbox.Page
	err = i.view(func(tx *bolt.Tx) error {
		p = &inbox.Page{Messages: []*inbox.Message{}}
		c := tx.Bucket(bktArrivals).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else if k, _ = c.Seek(seqKey(before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var last uint64
		for ; k != nil; k, v = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := getRecord(tx, v)
			if err != nil {
				return err
			}
			if r.msg.State == inbox.StateClaimed && !now.Before(r.msg.LeaseUntil) {
				r.msg.State = inbox.StatePending
				r.msg.NotBefore = r.msg.LeaseUntil
			}
			m := r.public()
			if !f.Match(m) {
				continue
			}
			if len(p.Messages) == limit {
				p.Next = backend.SeqCursor(last)
				break
			}
			p.Messages = append(p.Messages, m)
			last = r.seq
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Count implements inbox.Admin. Claims whose lease ran out count as
// claimed until a Claim looks at them.
func (i *store) Count(ctx context.Context) (inbox.Counts, error) {
	if err := i.settle(ctx); err != nil {
		return inbox.Counts{}, err
	}
	var c inbox.Counts
	err := i.view(func(tx *bolt.Tx) error {
		n := func(name []byte) int { return tx.Bucket(name).Stats().KeyN }
		c.Pending = n(bktReady) + n(bktDelayed)
		c.Claimed = n(bktLeases)
		c.Dead = n(bktDead)
		c.Done = n(bktFinished) - c.Dead
		return nil
	})
	return c, err
}

// Requeue implements inbox.Admin.
func (i *store) Requeue(ctx context.Context, id string, body []byte) error {
	body = bytes.Clone(body) // fn may outlive the call when ctx ends
	return i.do(ctx, func(w *wtx) error {
		r, err := w.get([]byte(id))
		if err != nil {
			return err
		}
		if r.msg.State != inbox.StateDone && r.msg.State != inbox.StateDead {
			return fmt.Errorf("boltinbox: message %q is %s: %w", id, r.msg.State, inbox.ErrNotFinished)
		}
		if len(r.msg.Body) == 0 && len(body) == 0 {
			return fmt.Errorf("boltinbox: message %q: %w", id, inbox.ErrNoBody)
		}
		if err := i.full(i.log.count() + int(w.depth)); err != nil {
			return err
		}
		if r.msg.State == inbox.StateDead {
			if err := w.tx.Bucket(bktDead).Delete(r.deadKey()); err != nil {
				return storageErr(err)
			}
		}
		if err := w.tx.Bucket(bktFinished).Delete(timeKey(r.msg.FinishedAt, r.seq)); err != nil {
			return storageErr(err)
		}
		if len(r.msg.Body) == 0 {
			r.msg.Body = body
		}
		r.msg.State = inbox.StatePending
		r.msg.Attempts = 0
		r.msg.Lease = ""
		r.msg.FinishedAt = time.Time{}
		r.msg.NotBefore = w.now
		w.depth++
		if err := w.schedule(r); err != nil {
			return err
		}
		return w.putRecord(r)
	})
}
