package inbox

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/inbox/internal/backend"
	"github.com/geminihooks/geminihooks/internal/nonblocking"
)

// defaultCapacity is a memory inbox's capacity unless its config says
// otherwise.
const defaultCapacity = 10000

// MemoryConfig configures NewMemory. A nil *MemoryConfig gives every
// default.
type MemoryConfig struct {
	// Capacity bounds the pending and claimed messages; a Put beyond it
	// fails with an error wrapping ErrFull. Done and dead messages do not
	// count. Default 10,000.
	Capacity int
	// Now is the clock that lease expiry, retry times and FinishedAt read.
	// Default nil: time.Now.
	Now func() time.Time
}

// NewMemory returns an empty inbox held in process memory: fast and free of
// setup, but everything in it, including events already acknowledged to the
// sender and still queued, is lost when the process exits or crashes. Use a
// durable store (inbox/boltinbox, inbox/pginbox) when that matters.
//
// Done messages keep only their keys and metadata (Get returns them without
// a Body) until Prune; dead letters keep their bodies so they can be
// requeued. Its Notify channel signals after a Put, a Requeue, and a Retry
// that makes a message claimable at once. It fails only on a config value
// out of range.
func NewMemory(cfg *MemoryConfig) (Store, error) {
	var c MemoryConfig
	if cfg != nil {
		c = *cfg
	}
	switch {
	case c.Capacity < 0:
		return nil, fmt.Errorf("inbox: MemoryConfig.Capacity is %d, need at least 1", c.Capacity)
	case c.Capacity == 0:
		c.Capacity = defaultCapacity
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	m := &memory{
		now:      c.Now,
		capacity: c.Capacity,
		notify:   make(chan struct{}, 1),
		byID:     make(map[string]*memEntry),
		byJob:    make(map[string]*memEntry),
		dead:     make(map[string]*memEntry),
	}
	m.ready.less = func(a, b *memEntry) bool { return before(a.m.ReceivedAt, b.m.ReceivedAt, a, b) }
	m.delayed.less = func(a, b *memEntry) bool { return before(a.m.NotBefore, b.m.NotBefore, a, b) }
	m.leased.less = func(a, b *memEntry) bool { return before(a.m.LeaseUntil, b.m.LeaseUntil, a, b) }
	m.ended.less = func(a, b *memEntry) bool { return before(a.m.FinishedAt, b.m.FinishedAt, a, b) }
	return m, nil
}

// memory is the Store NewMemory returns. No call waits on anything but its
// mutex, so it carries nonblocking.Mark: the listener skips its store
// timeout's timer for it and acks its events inline.
type memory struct {
	nonblocking.Mark

	now      func() time.Time
	capacity int
	notify   chan struct{}

	mu      sync.Mutex
	closed  bool
	byID    map[string]*memEntry
	byJob   map[string]*memEntry
	dead    map[string]*memEntry
	active  int         // pending + claimed
	ready   memHeap     // pending, claimable now: by ReceivedAt
	delayed memHeap     // pending, NotBefore in the future: by NotBefore
	leased  memHeap     // claimed: by LeaseUntil
	ended   memHeap     // done and dead: by FinishedAt
	seq     uint64      // insertion order, to break ties
	leases  uint64      // lease counter
	arrived []*memEntry // every entry by seq, for List; pruned ones until compacted
	pruned  int         // pruned entries still in arrived
}

// memEntry is one stored message. It sits in exactly one of the heaps, the
// one its state calls for, at index idx.
type memEntry struct {
	m         Message
	doneLease string // the lease that acked it, for idempotent Ack
	seq       uint64
	idx       int
	pruned    bool // deleted by Prune; still in memory.arrived until compacted
}

func before(a, b time.Time, ea, eb *memEntry) bool {
	if a.Equal(b) {
		return ea.seq < eb.seq
	}
	return a.Before(b)
}

var errNoID = errors.New("inbox: message has no ID")

// lock checks ctx, then takes the lock unless the inbox is closed.
func (m *memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

func (m *memory) signal() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Put implements [Inbox].
func (m *memory) Put(ctx context.Context, msg *Message) (bool, error) {
	if msg == nil || msg.ID == "" {
		return false, errNoID
	}
	if err := backend.CheckKeys(msg.ID, msg.JobKey); err != nil {
		return false, err
	}
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	if _, ok := m.byID[msg.ID]; ok {
		m.mu.Unlock()
		return false, nil
	}
	if msg.JobKey != "" {
		if _, ok := m.byJob[msg.JobKey]; ok {
			m.mu.Unlock()
			return false, nil
		}
	}
	if m.active >= m.capacity {
		m.mu.Unlock()
		return false, fmt.Errorf("%w: %d messages pending", ErrFull, m.capacity)
	}
	now := m.now()
	m.seq++
	e := &memEntry{seq: m.seq, m: Message{
		ID:          msg.ID,
		JobKey:      msg.JobKey,
		Body:        append([]byte(nil), msg.Body...),
		Scheme:      msg.Scheme,
		Synthesized: msg.Synthesized,
		ReceivedAt:  msg.ReceivedAt,
		State:       StatePending,
		NotBefore:   now,
	}}
	if e.m.ReceivedAt.IsZero() {
		e.m.ReceivedAt = now
	}
	m.byID[e.m.ID] = e
	if e.m.JobKey != "" {
		m.byJob[e.m.JobKey] = e
	}
	m.active++
	heap.Push(&m.ready, e)
	m.arrived = append(m.arrived, e)
	m.mu.Unlock()
	m.signal()
	return true, nil
}

// Claim implements [Inbox]. Among claimable messages it leases those with
// the earliest ReceivedAt first.
func (m *memory) Claim(ctx context.Context, n int, lease time.Duration) ([]*Message, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	now := m.now()
	m.release(now)
	out := make([]*Message, 0, min(max(n, 0), m.ready.Len()))
	for len(out) < n && m.ready.Len() > 0 {
		e := heap.Pop(&m.ready).(*memEntry)
		m.leases++
		e.m.State = StateClaimed
		e.m.Attempts++
		e.m.Lease = strconv.FormatUint(m.leases, 36)
		e.m.LeaseUntil = now.Add(lease)
		heap.Push(&m.leased, e)
		out = append(out, e.copy())
	}
	return out, nil
}

// release moves due delayed messages and messages whose lease expired to
// the ready heap.
func (m *memory) release(now time.Time) {
	for m.delayed.Len() > 0 && !m.delayed.items[0].m.NotBefore.After(now) {
		heap.Push(&m.ready, heap.Pop(&m.delayed))
	}
	for m.leased.Len() > 0 && !m.leased.items[0].m.LeaseUntil.After(now) {
		e := heap.Pop(&m.leased).(*memEntry)
		e.expire()
		heap.Push(&m.ready, e)
	}
}

// expire returns a claimed message whose lease ran out to pending.
func (e *memEntry) expire() {
	e.m.State = StatePending
	e.m.NotBefore = e.m.LeaseUntil
	e.m.Lease = ""
	e.m.LeaseUntil = time.Time{}
}

// claimed returns the entry id if lease is its current, unexpired lease.
func (m *memory) claimed(id, lease string) (*memEntry, error) {
	e, ok := m.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if e.m.State != StateClaimed || lease == "" || e.m.Lease != lease || !m.now().Before(e.m.LeaseUntil) {
		return nil, ErrLeaseLost
	}
	return e, nil
}

// Ack implements [Inbox].
func (m *memory) Ack(ctx context.Context, id, lease string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if e, ok := m.byID[id]; ok && e.m.State == StateDone && lease != "" && e.doneLease == lease {
		return nil
	}
	e, err := m.claimed(id, lease)
	if err != nil {
		return err
	}
	m.finish(e, StateDone, e.m.LastError)
	e.doneLease = lease
	e.m.Body = nil // a done message is only a dedupe record
	return nil
}

// finish moves a claimed entry to done or dead.
func (m *memory) finish(e *memEntry, s State, reason string) {
	heap.Remove(&m.leased, e.idx)
	e.m.State = s
	e.m.LastError = reason
	e.m.Lease = ""
	e.m.LeaseUntil = time.Time{}
	e.m.FinishedAt = m.now()
	m.active--
	heap.Push(&m.ended, e)
	if s == StateDead {
		m.dead[e.m.ID] = e
	}
}

// Retry implements [Inbox].
func (m *memory) Retry(ctx context.Context, id, lease string, at time.Time, reason string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	e, err := m.claimed(id, lease)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	heap.Remove(&m.leased, e.idx)
	e.m.State = StatePending
	e.m.NotBefore = at
	e.m.LastError = reason
	e.m.Lease = ""
	e.m.LeaseUntil = time.Time{}
	due := !at.After(m.now())
	if due {
		heap.Push(&m.ready, e)
	} else {
		heap.Push(&m.delayed, e)
	}
	m.mu.Unlock()
	if due {
		m.signal()
	}
	return nil
}

// DeadLetter implements [Inbox].
func (m *memory) DeadLetter(ctx context.Context, id, lease, reason string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	e, err := m.claimed(id, lease)
	if err != nil {
		return err
	}
	m.finish(e, StateDead, reason)
	return nil
}

// Get implements [Admin].
func (m *memory) Get(ctx context.Context, id string) (*Message, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e, ok := m.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	c := e.copy()
	if c.State == StateClaimed && !m.now().Before(c.LeaseUntil) {
		// The lease ran out; Claim moves it back lazily.
		c.State, c.NotBefore, c.Lease, c.LeaseUntil = StatePending, c.LeaseUntil, "", time.Time{}
	}
	return c, nil
}

// Prune implements [Inbox].
func (m *memory) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for m.ended.Len() > 0 && m.ended.items[0].m.FinishedAt.Before(before) {
		e := heap.Pop(&m.ended).(*memEntry)
		delete(m.byID, e.m.ID)
		delete(m.dead, e.m.ID)
		if e.m.JobKey != "" && m.byJob[e.m.JobKey] == e {
			delete(m.byJob, e.m.JobKey)
		}
		e.pruned = true
		n++
	}
	m.compact(n)
	return n, nil
}

// Depth implements [Inbox].
func (m *memory) Depth(ctx context.Context) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return m.active, nil
}

// Notify implements [Inbox]. It signals after a Put, a Requeue and a Retry
// that makes a message claimable at once.
func (m *memory) Notify() <-chan struct{} { return m.notify }

// Close implements [Inbox]. It drops every message; later calls return
// [ErrClosed]. Closing twice returns nil.
func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.byID, m.byJob, m.dead = nil, nil, nil
	m.ready.items, m.delayed.items, m.leased.items, m.ended.items = nil, nil, nil, nil
	m.arrived = nil
	return nil
}

// copy returns a copy the caller may change freely.
func (e *memEntry) copy() *Message {
	c := e.m
	if c.Body != nil {
		c.Body = append([]byte(nil), c.Body...)
	}
	return &c
}

// memHeap is a container/heap of entries that keeps each entry's index.
type memHeap struct {
	items []*memEntry
	less  func(a, b *memEntry) bool
}

func (h *memHeap) Len() int           { return len(h.items) }
func (h *memHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *memHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].idx = i
	h.items[j].idx = j
}
func (h *memHeap) Push(x any) {
	e := x.(*memEntry)
	e.idx = len(h.items)
	h.items = append(h.items, e)
}
func (h *memHeap) Pop() any {
	n := len(h.items) - 1
	e := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	e.idx = -1
	return e
}
