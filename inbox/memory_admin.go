package inbox

import (
	"container/heap"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/geminihooks/geminihooks/inbox/internal/backend"
)

// compact drops pruned entries from arrived once they are half of it, so
// List skips few and the slice does not grow without bound.
func (m *memory) compact(pruned int) {
	m.pruned += pruned
	if m.pruned*2 < len(m.arrived) {
		return
	}
	kept := m.arrived[:0]
	for _, e := range m.arrived {
		if !e.pruned {
			kept = append(kept, e)
		}
	}
	clear(m.arrived[len(kept):])
	m.arrived, m.pruned = kept, 0
}

// List implements [Admin]. A page costs the entries it walks past: with a
// filter on Type or JobID, every older message until the page is full.
func (m *memory) List(ctx context.Context, f Filter, cursor string, limit int) (*Page, error) {
	before, err := backend.ParseSeqCursor(cursor)
	if err != nil {
		return nil, err
	}
	limit = backend.PageLimit(limit)
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	now := m.now()
	i := len(m.arrived)
	if before > 0 {
		i = sort.Search(len(m.arrived), func(i int) bool { return m.arrived[i].seq >= before })
	}
	p := &Page{Messages: []*Message{}}
	var last uint64
	for i--; i >= 0; i-- {
		e := m.arrived[i]
		if e.pruned {
			continue
		}
		if f.State != "" && e.state(now) != f.State {
			continue // without copying the body
		}
		c := e.view(now)
		if !f.Match(c) {
			continue
		}
		if len(p.Messages) == limit {
			p.Next = backend.SeqCursor(last)
			break
		}
		p.Messages = append(p.Messages, c)
		last = e.seq
	}
	return p, nil
}

// view is a copy of the entry as Get shows it: a claim whose lease ran out
// reads as pending.
func (e *memEntry) view(now time.Time) *Message {
	c := e.copy()
	if c.State == StateClaimed && !now.Before(c.LeaseUntil) {
		c.State, c.NotBefore, c.Lease, c.LeaseUntil = StatePending, c.LeaseUntil, "", time.Time{}
	}
	return c
}

// state is the entry's state as Get shows it.
func (e *memEntry) state(now time.Time) State {
	if e.m.State == StateClaimed && !now.Before(e.m.LeaseUntil) {
		return StatePending
	}
	return e.m.State
}

// Count implements [Admin]. Claims whose lease ran out count as claimed
// until a Claim looks at them.
func (m *memory) Count(ctx context.Context) (Counts, error) {
	if err := m.lock(ctx); err != nil {
		return Counts{}, err
	}
	defer m.mu.Unlock()
	return Counts{
		Pending: m.ready.Len() + m.delayed.Len(),
		Claimed: m.leased.Len(),
		Done:    m.ended.Len() - len(m.dead),
		Dead:    len(m.dead),
	}, nil
}

// Requeue implements [Admin].
func (m *memory) Requeue(ctx context.Context, id string, body []byte) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	e, ok := m.byID[id]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if e.m.State != StateDone && e.m.State != StateDead {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q is %s", ErrNotFinished, id, e.m.State)
	}
	if len(e.m.Body) == 0 && len(body) == 0 {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoBody, id)
	}
	if m.active >= m.capacity {
		m.mu.Unlock()
		return fmt.Errorf("%w: %d messages pending", ErrFull, m.capacity)
	}
	if len(e.m.Body) == 0 {
		e.m.Body = append([]byte(nil), body...)
	}
	delete(m.dead, id)
	heap.Remove(&m.ended, e.idx)
	e.m.State = StatePending
	e.m.Attempts = 0
	e.m.NotBefore = m.now()
	e.m.FinishedAt = time.Time{}
	e.doneLease = ""
	m.active++
	heap.Push(&m.ready, e)
	m.mu.Unlock()
	m.signal()
	return nil
}
