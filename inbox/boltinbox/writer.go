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
	// lazy marks a change nobody waits on for long (the end of a claim:
	// a worker goes on with its next event meanwhile; a claim once the
	// ready queue was empty): it may wait up to pace after the last commit
	// began, to share a commit.
	lazy bool
}

// wtx is the state of one write transaction shared by the ops in a batch.
type wtx struct {
	tx     *bolt.Tx
	now    time.Time
	depth  int64 // change to pending + claimed, applied after commit
	notify bool  // a message became claimable
	dirty  bool  // something was written; if not, the batch rolls back and skips the fsync
	// applied is the log's groups this transaction stores, released
	// once it commits.
	applied []*group
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
	return i.send(ctx, fn, false)
}

// lazy is do for acks, retries and dead letters. Committing them at once
// would take a commit, two fsyncs and a dozen page writes, for one change
// or a few; held until pace after the last commit, they share one.
func (i *store) lazy(ctx context.Context, fn func(w *wtx) error) error {
	return i.send(ctx, fn, true)
}

func newOp(ctx context.Context, fn func(w *wtx) error, lazy bool) *op {
	return &op{ctx: ctx, fn: fn, done: make(chan error, 1), lazy: lazy}
}

// send hands fn to the writer as do does, lazy or not.
func (i *store) send(ctx context.Context, fn func(w *wtx) error, lazy bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := newOp(ctx, fn, lazy)
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

// writer is the only goroutine that writes the bbolt file. It takes
// whatever ops and logged Puts queued while the previous commit was in
// progress and commits them together, so concurrent callers share one
// commit without waiting for a timer. While Puts arrive fast, lazy ops
// and logged Puts, which nobody waits on, wait for company until pace
// after the last commit.
func (i *store) writer() {
	defer i.wg.Done()
	// A fault on a damaged page becomes a panic that commit recovers.
	debug.SetPanicOnFault(true)
	batch := make([]*op, 0, i.cfg.maxBatch)
	var (
		last time.Time // when the last commit began
		puts rate      // logged Puts applied per second
	)
	for {
		batch = batch[:0]
		select {
		case o := <-i.ops:
			batch = append(batch, o)
		case <-i.log.ready:
		case <-i.stop:
			// Close set closed, and the syncer has stopped: nothing more
			// is sent or logged.
			i.drain(batch)
			return
		}
		batch = i.queued(batch)
		if puts.perSecond >= paceAbove && allLazy(batch) {
			if wait := time.Until(last.Add(pace)); wait > 0 {
				batch = i.gather(batch, wait)
			}
		}
		gs := i.log.take()
		now := time.Now()
		n := 0
		for _, g := range gs {
			n += len(g.flights)
		}
		puts.add(n, now)
		last = now
		i.commitWith(batch, gs)
	}
}

// queued adds the ops waiting in the queue to batch, up to its capacity.
func (i *store) queued(batch []*op) []*op {
	for len(batch) < cap(batch) {
		select {
		case o := <-i.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// commitWith commits batch and the log's groups gs in one transaction.
func (i *store) commitWith(batch []*op, gs []*group) {
	if len(gs) == 0 {
		if len(batch) > 0 {
			i.commit(batch)
		}
		return
	}
	// The Puts first: they were answered before the claims in batch
	// were made, which must find them.
	ap := i.apply(gs)
	i.commit(append([]*op{ap}, batch...))
	if err := <-ap.done; err != nil {
		i.log.failed(gs, err)
		i.logger.Error("boltinbox: storing logged messages failed; the write-ahead log keeps them", "error", err.Error())
	}
}

// drain commits what is left at Close.
func (i *store) drain(batch []*op) {
	for {
		batch = i.queued(batch)
		gs := i.log.take()
		if len(batch) == 0 && len(gs) == 0 {
			return
		}
		i.commitWith(batch, gs)
		if len(gs) > 0 && i.log.queued() {
			// The commit failed: the log keeps the messages for the next Open.
			return
		}
		batch = batch[:0]
	}
}

const (
	// pace is how long after a commit began lazy ops and logged Puts may
	// wait for the next. A commit costs about the same for one change as
	// for fifty (a new meta page, the freelist, the branch pages of each
	// bucket it touches, two fsyncs); committing acks and logged Puts as
	// they came took 1.3 to 1.8 commits per delivery at 1,000 a second.
	pace = 5 * time.Millisecond
	// paceAbove is the rate of logged Puts from which lazy ops wait for
	// pace. Below it commits are few anyway, and a worker that waits for
	// its last ack before acking again (as the listener's workers do)
	// would wait for pace at each event: one worker draining a backlog
	// handled 154 events a second when every ack waited.
	paceAbove = 500
)

// rate estimates events per second, smoothed over windows of at least
// pace. (Smoothing each commit's count over its own interval undercounted:
// a commit every millisecond with four Puts counted as 800 a second, not
// 4,000, and each commit with none cut the estimate by 30%, so pacing came
// and went at 4,000 Puts a second.)
type rate struct {
	perSecond float64
	since     time.Time // when the current window began
	n         int       // events in it
}

// add counts n events at now.
func (r *rate) add(n int, now time.Time) {
	if r.since.IsZero() {
		r.since = now
	}
	r.n += n
	if d := now.Sub(r.since); d >= pace {
		r.perSecond = 0.7*r.perSecond + 0.3*float64(r.n)/d.Seconds()
		r.since, r.n = now, 0
	}
}

// allLazy reports whether every op in batch is lazy.
func allLazy(batch []*op) bool {
	for _, o := range batch {
		if !o.lazy {
			return false
		}
	}
	return true
}

// gather adds ops to batch until one that is not lazy arrives, the batch
// is full, d passes or the inbox is closing.
func (i *store) gather(batch []*op, d time.Duration) []*op {
	t := time.NewTimer(d)
	defer t.Stop()
	for len(batch) < cap(batch) {
		select {
		case o := <-i.ops:
			batch = append(batch, o)
			if !o.lazy {
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
		i.log.mu.Lock()
		i.depth.Add(w.depth)
		i.log.release(w.applied, nil)
		i.log.mu.Unlock()
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
