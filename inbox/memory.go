package inbox

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultCapacity is how many pending and claimed messages a [Memory] holds
// unless [WithCapacity] says otherwise.
const DefaultCapacity = 10000

// Memory is an [Inbox] held in process memory: fast and free of setup, but
// everything in it, including events already acknowledged to the sender and
// still queued, is lost when the process exits or crashes. Use a durable
// store (inbox/boltinbox, inbox/pginbox) when that matters.
//
// Memory holds at most its capacity of pending and claimed messages; Put
// beyond that returns an error wrapping [ErrFull]. Done messages keep only
// their keys and metadata (Get returns them without a Body) until Prune;
// dead letters keep their bodies so they can be replayed.
//
// Memory implements [Notifier] and [Tracker]. The zero value is not usable; call
// [NewMemory].
type Memory struct {
	now      func() time.Time
	capacity int
	notify   chan struct{}

	mu      sync.Mutex
	closed  bool
	byID    map[string]*memEntry
	byJob   map[string]*memEntry
	dead    map[string]*memEntry
	active  int                    // pending + claimed
	ready   memHeap                // pending, claimable now: by ReceivedAt
	delayed memHeap                // pending, NotBefore in the future: by NotBefore
	leased  memHeap                // claimed: by LeaseUntil
	ended   memHeap                // done and dead: by FinishedAt
	seq     uint64                 // insertion order, to break ties
	leases  uint64                 // lease counter
	arrived []*memEntry            // every entry by seq, for Admin.List; pruned ones until compacted
	pruned  int                    // pruned entries still in arrived
	tracked map[string]*TrackedJob // the Tracker's jobs, by name
	owners  map[string]memLease    // the Tracker's leases, by name
}

// MemoryOption configures a [Memory].
type MemoryOption func(*Memory)

// WithCapacity bounds the number of pending and claimed messages. It panics
// if n is not positive.
func WithCapacity(n int) MemoryOption {
	if n <= 0 {
		panic(fmt.Sprintf("inbox: WithCapacity(%d): capacity must be positive", n))
	}
	return func(m *Memory) { m.capacity = n }
}

// WithClock sets the clock that lease expiry, retry times and FinishedAt
// read. The default is time.Now.
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) {
		if now != nil {
			m.now = now
		}
	}
}

// NewMemory returns an empty in-memory inbox.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		now:      time.Now,
		capacity: DefaultCapacity,
		notify:   make(chan struct{}, 1),
		byID:     make(map[string]*memEntry),
		byJob:    make(map[string]*memEntry),
		dead:     make(map[string]*memEntry),
		tracked:  make(map[string]*TrackedJob),
		owners:   make(map[string]memLease),
	}
	m.ready.less = func(a, b *memEntry) bool { return before(a.m.ReceivedAt, b.m.ReceivedAt, a, b) }
	m.delayed.less = func(a, b *memEntry) bool { return before(a.m.NotBefore, b.m.NotBefore, a, b) }
	m.leased.less = func(a, b *memEntry) bool { return before(a.m.LeaseUntil, b.m.LeaseUntil, a, b) }
	m.ended.less = func(a, b *memEntry) bool { return before(a.m.FinishedAt, b.m.FinishedAt, a, b) }
	for _, o := range opts {
		o(m)
	}
	return m
}

// memEntry is one stored message. It sits in exactly one of the heaps, the
// one its state calls for, at index idx.
type memEntry struct {
	m         Message
	doneLease string // the lease that acked it, for idempotent Ack
	seq       uint64
	idx       int
	pruned    bool // deleted by Prune; still in Memory.arrived until compacted
}

func before(a, b time.Time, ea, eb *memEntry) bool {
	if a.Equal(b) {
		return ea.seq < eb.seq
	}
	return a.Before(b)
}

var errNoID = errors.New("inbox: message has no ID")

// lock checks ctx, then takes the lock unless the inbox is closed.
func (m *Memory) lock(ctx context.Context) error {
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

func (m *Memory) signal() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Put implements [Inbox].
func (m *Memory) Put(ctx context.Context, msg *Message) (bool, error) {
	if msg == nil || msg.ID == "" {
		return false, errNoID
	}
	if err := CheckKeys(msg); err != nil {
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
func (m *Memory) Claim(ctx context.Context, n int, lease time.Duration) ([]*Message, error) {
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
func (m *Memory) release(now time.Time) {
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
func (m *Memory) claimed(id, lease string) (*memEntry, error) {
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
func (m *Memory) Ack(ctx context.Context, id, lease string) error {
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
func (m *Memory) finish(e *memEntry, s State, reason string) {
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
func (m *Memory) Retry(ctx context.Context, id, lease string, at time.Time, reason string) error {
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
func (m *Memory) DeadLetter(ctx context.Context, id, lease, reason string) error {
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

// DeadLetters implements [Inbox]. Dead letters are ordered by the time they
// were dead-lettered.
func (m *Memory) DeadLetters(ctx context.Context, limit int) ([]*Message, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	all := make([]*memEntry, 0, len(m.dead))
	for _, e := range m.dead {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *memEntry) int {
		if m.ended.less(a, b) {
			return -1
		}
		return 1
	})
	out := make([]*Message, 0, min(max(limit, 0), len(all)))
	for _, e := range all[:min(max(limit, 0), len(all))] {
		out = append(out, e.copy())
	}
	return out, nil
}

// Replay implements [Inbox]. It returns an error wrapping [ErrNotFound] when
// no dead message has the ID, and one wrapping [ErrFull] at capacity.
func (m *Memory) Replay(ctx context.Context, id string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	e, ok := m.dead[id]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: no dead letter %q", ErrNotFound, id)
	}
	if m.active >= m.capacity {
		m.mu.Unlock()
		return fmt.Errorf("%w: %d messages pending", ErrFull, m.capacity)
	}
	delete(m.dead, id)
	heap.Remove(&m.ended, e.idx)
	e.m.State = StatePending
	e.m.Attempts = 0
	e.m.NotBefore = m.now()
	e.m.FinishedAt = time.Time{}
	m.active++
	heap.Push(&m.ready, e)
	m.mu.Unlock()
	m.signal()
	return nil
}

// Get implements [Inbox].
func (m *Memory) Get(ctx context.Context, id string) (*Message, error) {
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
func (m *Memory) Prune(ctx context.Context, before time.Time) (int, error) {
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
func (m *Memory) Depth(ctx context.Context) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return m.active, nil
}

// Notify implements [Notifier]. It signals after a Put, a Replay and a Retry
// that makes a message claimable at once.
func (m *Memory) Notify() <-chan struct{} { return m.notify }

// Close implements [Inbox]. It drops every message; later calls return
// [ErrClosed]. Closing twice returns nil.
func (m *Memory) Close() error {
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
