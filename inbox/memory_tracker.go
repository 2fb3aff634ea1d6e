package inbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

var (
	_ Tracker       = (*Memory)(nil)
	_ TrackerPruner = (*Memory)(nil)
)

// memLease is one named lease of a Memory's Tracker.
type memLease struct {
	owner string
	until time.Time
}

var errNoName = errors.New("inbox: tracked job has no name")

// Track implements [Tracker].
func (m *Memory) Track(ctx context.Context, j *TrackedJob) error {
	if j == nil || j.Name == "" {
		return errNoName
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.tracked[j.Name] = j.Clone()
	return nil
}

// Settle implements [Tracker].
func (m *Memory) Settle(ctx context.Context, name string, at time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if j, ok := m.tracked[name]; ok && !j.Settled {
		j.Settled, j.SettledAt = true, at
	}
	return nil
}

// Due implements [Tracker].
func (m *Memory) Due(ctx context.Context, now time.Time, limit int) ([]*TrackedJob, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []*TrackedJob
	for _, j := range m.tracked {
		if !j.Settled && !j.NextCheck.After(now) {
			out = append(out, j.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *TrackedJob) int {
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

// Reschedule implements [Tracker].
func (m *Memory) Reschedule(ctx context.Context, name string, next, endedAt time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	j, ok := m.tracked[name]
	if !ok {
		return fmt.Errorf("%w: tracked job %q", ErrNotFound, name)
	}
	if !j.Settled {
		j.NextCheck, j.EndedAt = next, endedAt
		j.Checks++
	}
	return nil
}

// TrackedJob implements [Tracker].
func (m *Memory) TrackedJob(ctx context.Context, name string) (*TrackedJob, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	j, ok := m.tracked[name]
	if !ok {
		return nil, fmt.Errorf("%w: tracked job %q", ErrNotFound, name)
	}
	return j.Clone(), nil
}

// AcquireLease implements [Tracker]. A Memory lives in one process, so its
// lease only arbitrates between reconcilers sharing it there.
func (m *Memory) AcquireLease(ctx context.Context, lease, owner string, now time.Time, ttl time.Duration) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if l, ok := m.owners[lease]; ok && l.owner != owner && now.Before(l.until) {
		return ErrLeaseHeld
	}
	m.owners[lease] = memLease{owner: owner, until: now.Add(ttl)}
	return nil
}

// ReleaseLease implements [Tracker].
func (m *Memory) ReleaseLease(ctx context.Context, lease, owner string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if l, ok := m.owners[lease]; ok && l.owner == owner {
		delete(m.owners, lease)
	}
	return nil
}

// PruneTracked implements [TrackerPruner].
func (m *Memory) PruneTracked(ctx context.Context, before time.Time) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for name, j := range m.tracked {
		if j.Settled && j.SettledAt.Before(before) {
			delete(m.tracked, name)
			n++
		}
	}
	return n, nil
}
