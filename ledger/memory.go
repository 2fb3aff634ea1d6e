package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// NewMemory returns an empty Ledger held in process memory: its jobs and
// leases are lost when the process exits. Its lease only arbitrates between
// reconcilers in this process. Use the ledger of inbox/boltinbox or
// inbox/pginbox to keep jobs beside the deliveries, across restarts.
func NewMemory() Ledger {
	return &memory{jobs: make(map[string]*Job), leases: make(map[string]memLease)}
}

// memory is the Ledger NewMemory returns.
type memory struct {
	mu     sync.Mutex
	jobs   map[string]*Job
	leases map[string]memLease
}

// memLease is one named lease.
type memLease struct {
	owner string
	until time.Time
}

var errNoName = errors.New("ledger: job has no name")

// lock checks ctx, then takes the lock.
func (m *memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	m.mu.Lock()
	return nil
}

func (m *memory) Track(ctx context.Context, j *Job) error {
	if j == nil || j.Name == "" {
		return errNoName
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.jobs[j.Name] = clone(j)
	return nil
}

func (m *memory) Settle(ctx context.Context, name string, at time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if j, ok := m.jobs[name]; ok && !j.Settled {
		j.Settled, j.SettledAt = true, at
	}
	return nil
}

func (m *memory) Due(ctx context.Context, now time.Time, limit int) ([]*Job, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []*Job
	for _, j := range m.jobs {
		if !j.Settled && !j.NextCheck.After(now) {
			out = append(out, clone(j))
		}
	}
	slices.SortFunc(out, func(a, b *Job) int {
		if c := a.NextCheck.Compare(b.NextCheck); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if len(out) > max(limit, 0) {
		out = out[:max(limit, 0)]
	}
	return out, nil
}

func (m *memory) Reschedule(ctx context.Context, name string, next, endedAt time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	j, ok := m.jobs[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if !j.Settled {
		j.NextCheck, j.EndedAt = next, endedAt
		j.Checks++
	}
	return nil
}

func (m *memory) Job(ctx context.Context, name string) (*Job, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	j, ok := m.jobs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return clone(j), nil
}

func (m *memory) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for name, j := range m.jobs {
		if j.Settled && j.SettledAt.Before(before) {
			delete(m.jobs, name)
			n++
		}
	}
	return n, nil
}

func (m *memory) AcquireLease(ctx context.Context, lease, owner string, now time.Time, ttl time.Duration) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if l, ok := m.leases[lease]; ok && l.owner != owner && now.Before(l.until) {
		return fmt.Errorf("%w: %q", ErrLeaseHeld, lease)
	}
	m.leases[lease] = memLease{owner: owner, until: now.Add(ttl)}
	return nil
}

func (m *memory) ReleaseLease(ctx context.Context, lease, owner string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if l, ok := m.leases[lease]; ok && l.owner == owner {
		delete(m.leases, lease)
	}
	return nil
}
