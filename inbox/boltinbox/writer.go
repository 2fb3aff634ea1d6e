package boltinbox

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/geminihooks/geminihooks/inbox"
)

// op is one change waiting for the writer. fn must not write before it has
// decided to succeed: an error it returns is the caller's result and the
// rest of the batch commits, unless the error is a storageError, which means
// the transaction may hold partial writes and is abandoned.
type op struct {
	ctx  context.Context
	fn   func(w *wtx) error
	done chan error
	// rider marks a change that waits for no HTTP answer (a claim or the
	// end of one): it may wait briefly to share a Put's commit.
	rider bool
}

// wtx is the state of one write transaction shared by the ops in a batch.
type wtx struct {
	tx     *bolt.Tx
	now    time.Time
	depth  int64 // change to pending + claimed, applied after commit
	notify bool  // a message became claimable
	dirty  bool  // something was written; if not, the batch rolls back and skips the fsync
}

type storageError struct{ err error }

func (e *storageError) Error() string { return "boltinbox: write: " + e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

func storageErr(err error) error {
	if err == nil {
		return nil
	}
	return &storageError{err}
}

func (w *wtx) get(id []byte) (*record, error) { return getRecord(w.tx, id) }

func (w *wtx) putRecord(r *record) error {
	w.dirty = true
	return storageErr(w.tx.Bucket(bktMsgs).Put([]byte(r.msg.ID), r.encode()))
}

// do hands fn to the writer and waits until its batch is committed and
// fsynced. A caller whose ctx ends stops waiting; its op may still commit.
func (i *store) do(ctx context.Context, fn func(w *wtx) error) error {
	return i.send(ctx, &op{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// ride is do for claims, acks, retries and dead letters: changes nobody
// answers an HTTP request on. While Puts are arriving, the writer holds
// them back up to maxRide to commit them with the next Put, so that they
// do not take commits of their own from the Puts (one commit costs about
// the same whether it carries one change or thirty: a new meta page, the
// freelist, and the branch pages of every bucket it touches).
func (i *store) ride(ctx context.Context, fn func(w *wtx) error) error {
	return i.send(ctx, &op{ctx: ctx, fn: fn, done: make(chan error, 1), rider: true})
}

func (i *store) send(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	i.mu.RLock()
	if i.closed.Load() {
		i.mu.RUnlock()
		return inbox.ErrClosed
	}
	select {
	case i.ops <- o:
		i.mu.RUnlock()
	case <-ctx.Done():
		i.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the only goroutine that writes. It takes whatever ops queued
// while the previous commit was in progress and commits them together, so
// concurrent callers share one fsync without waiting for a timer.
func (i *store) writer() {
	defer i.wg.Done()
	// A fault on a damaged page becomes a panic that commit recovers.
	debug.SetPanicOnFault(true)
	batch := make([]*op, 0, i.cfg.maxBatch)
	var (
		target     int           // the last batch's size
		lastCommit time.Duration // the last commit's duration
		lastPut    time.Time     // when the writer last took an op that is not a rider
	)
	for {
		batch = batch[:0]
		select {
		case o := <-i.ops:
			batch = append(batch, o)
		case <-i.closing:
			// Close set closed before closing, so nothing more is sent.
			for {
				select {
				case o := <-i.ops:
					batch = append(batch, o)
					if len(batch) == cap(batch) {
						i.commit(batch)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			i.commit(batch)
			return
		}
		// Group commit: gather what queued during the last commit. When
		// the last batch was bigger, its callers are likely on their way
		// back, so wait a little for as many, bounded by a fraction of a
		// commit's duration, which is what a caller saves by sharing one.
		linger := time.NewTimer(min(lastCommit/4, maxLinger))
	fill:
		for len(batch) < cap(batch) {
			select {
			case o := <-i.ops:
				batch = append(batch, o)
				continue
			default:
			}
			if len(batch) >= target {
				break
			}
			select {
			case o := <-i.ops:
				batch = append(batch, o)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		target = len(batch)
		if riders(batch) {
			// Only riders: while Puts are arriving, one will come soon;
			// commit these with it. Without recent Puts (a backlog
			// draining, a quiet hour) there is nobody to wait for.
			if time.Since(lastPut) < rideWindow {
				batch = i.waitForPut(batch)
			}
		}
		if !riders(batch) {
			lastPut = time.Now()
		}
		t0 := time.Now()
		i.commit(batch)
		lastCommit = time.Since(t0)
	}
}

const (
	// maxLinger caps how long the writer waits to fill a batch.
	maxLinger = 2 * time.Millisecond
	// maxRide caps how long riders wait for a Put to share a commit with,
	// and rideWindow is how recent the last Put must be for them to wait:
	// at 1,000 Puts a second and more, the next one is due within a
	// millisecond.
	maxRide    = time.Millisecond
	rideWindow = 10 * time.Millisecond
)

// riders reports whether every op in batch is a rider.
func riders(batch []*op) bool {
	for _, o := range batch {
		if !o.rider {
			return false
		}
	}
	return true
}

// waitForPut adds ops to batch until one that is not a rider arrives, the
// batch is full, maxRide passes or the inbox is closing.
func (i *store) waitForPut(batch []*op) []*op {
	t := time.NewTimer(maxRide)
	defer t.Stop()
	for len(batch) < cap(batch) {
		select {
		case o := <-i.ops:
			batch = append(batch, o)
			if !o.rider {
				return batch
			}
		case <-t.C:
			return batch
		case <-i.closing:
			return batch
		}
	}
	return batch
}

var (
	errAbandon = errors.New("boltinbox: abandon batch")
	errNothing = errors.New("boltinbox: nothing to commit")
)

// commit runs the ops in one transaction. Like bbolt's DB.Batch, when an op
// fails with a storage error it gets that error alone and the others run
// again in a new transaction; when the commit itself fails, each op is
// committed alone.
func (i *store) commit(batch []*op) {
	live := batch[:0:0]
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.done <- err
			continue
		}
		live = append(live, o)
	}
	for len(live) > 0 {
		results := make([]error, len(live))
		failed := -1
		var w *wtx
		err := i.update(func(tx *bolt.Tx) error {
			w = &wtx{tx: tx, now: i.clock()}
			for k, o := range live {
				results[k] = o.fn(w)
				var se *storageError
				if errors.As(results[k], &se) {
					failed = k
					return errAbandon
				}
			}
			if !w.dirty {
				// Empty claims, duplicates and refusals change nothing:
				// a commit would only fsync a new meta page.
				return errNothing
			}
			return nil
		})
		if errors.Is(err, errNothing) {
			err = nil
		}
		if failed >= 0 {
			live[failed].done <- results[failed]
			live = append(live[:failed:failed], live[failed+1:]...)
			continue
		}
		if err != nil {
			if len(live) > 1 {
				// The commit failed, perhaps for one op's sake (a panic
				// on a damaged page only it touched): commit each op
				// alone, so that one fails by itself.
				for _, o := range live {
					i.commit([]*op{o})
				}
				return
			}
			live[0].done <- err
			return
		}
		i.depth.Add(w.depth)
		if w.notify {
			select {
			case i.notify <- struct{}{}:
			default:
			}
		}
		for k, o := range live {
			o.done <- results[k]
		}
		return
	}
}

func (i *store) update(fn func(tx *bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	if err := i.db.Update(fn); err != nil {
		return fmt.Errorf("boltinbox: commit: %w", err)
	}
	return nil
}
