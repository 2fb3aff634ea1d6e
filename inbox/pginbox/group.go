package pginbox

import (
	"context"
	"sync/atomic"
)

// Group commit for Claim and Ack, as put.go does for Put: the listener's
// workers claim and ack one message at a time, and each call alone would be
// a statement and a commit (a WAL flush) of its own. A group's runners each
// take every call that is waiting and answer them all with one statement.

// call is one caller's request waiting in a group.
type call[Q, A any] struct {
	ctx  context.Context
	q    Q
	done chan result[A]
	// state settles the race between the answer and the caller giving up:
	// 0 waiting, 1 answered, 2 abandoned.
	state atomic.Int32
}

type result[A any] struct {
	v   A
	err error
}

// group is a queue of calls and the function that answers a batch of them.
type group[Q, A any] struct {
	calls chan *call[Q, A]
	// run answers every call in the batch with answer.
	run func(batch []*call[Q, A])
}

func newGroup[Q, A any](size int, run func([]*call[Q, A])) *group[Q, A] {
	return &group[Q, A]{calls: make(chan *call[Q, A], size), run: run}
}

// submit queues q and waits for its answer or for ctx to end.
func submit[Q, A any](ctx context.Context, i *store, g *group[Q, A], q Q) (A, error) {
	var zero A
	c := &call[Q, A]{ctx: ctx, q: q, done: make(chan result[A], 1)}
	i.mu.Lock()
	if i.closed.Load() {
		i.mu.Unlock()
		return zero, errClosed
	}
	// Holding mu keeps Close from finishing while c is being queued, so a
	// runner is there to answer it.
	select {
	case g.calls <- c:
		i.mu.Unlock()
	case <-ctx.Done():
		i.mu.Unlock()
		return zero, ctx.Err()
	}
	select {
	case r := <-c.done:
		return r.v, r.err
	case <-ctx.Done():
		if c.state.CompareAndSwap(0, 2) {
			return zero, ctx.Err()
		}
		r := <-c.done // answered just now
		return r.v, r.err
	}
}

// answer gives c its result. It reports false, and sends nothing, when the
// caller has already gone: whatever was done for it is then the runner's to
// undo.
func (c *call[Q, A]) answer(v A, err error) bool {
	if !c.state.CompareAndSwap(0, 1) {
		return false
	}
	c.done <- result[A]{v, err}
	return true
}

// runGroup is one of a group's runners; it returns after Close.
func runGroup[Q, A any](i *store, g *group[Q, A], max int) {
	defer i.wg.Done()
	batch := make([]*call[Q, A], 0, max)
	for {
		batch = batch[:0]
		select {
		case c := <-g.calls:
			batch = append(batch, c)
		case <-i.closing:
			// Close has set closed under mu, so nothing more is queued.
			for {
				select {
				case c := <-g.calls:
					var zero A
					c.answer(zero, errClosed)
					continue
				default:
				}
				return
			}
		}
	fill:
		for len(batch) < max {
			select {
			case c := <-g.calls:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		// Calls whose callers have gone need nothing done.
		live := batch[:0]
		for _, c := range batch {
			if err := c.ctx.Err(); err != nil {
				var zero A
				c.answer(zero, err)
				continue
			}
			live = append(live, c)
		}
		if len(live) > 0 {
			g.run(live)
		}
	}
}
