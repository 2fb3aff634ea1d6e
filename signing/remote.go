package signing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Defaults of a RemoteKeySet.
const (
	DefaultRefreshInterval = time.Hour
	DefaultRefetchCooldown = 30 * time.Second
	DefaultMaxWait         = 2 * time.Second
	minMaxAge              = 5 * time.Minute
	maxMaxAge              = 24 * time.Hour
	defaultFetchTimeout    = 10 * time.Second
)

// KeySetOption configures a RemoteKeySet.
type KeySetOption func(*keySetOptions)

type keySetOptions struct {
	client   *http.Client
	now      func() time.Time
	refresh  time.Duration
	cooldown time.Duration
	maxWait  time.Duration
	logger   *slog.Logger
}

// WithHTTPClient sets the client that fetches the JWKS; the default is a client with a 10 s timeout.
func WithHTTPClient(c *http.Client) KeySetOption {
	return func(o *keySetOptions) {
		if c != nil {
			o.client = c
		}
	}
}

// WithKeySetClock replaces time.Now, for tests of expiry and cooldowns.
func WithKeySetClock(now func() time.Time) KeySetOption {
	return func(o *keySetOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// WithRefreshInterval sets how long a fetched set is used when the response has no Cache-Control
// max-age (default DefaultRefreshInterval). Like max-age, it is clamped to [5m, 24h].
func WithRefreshInterval(d time.Duration) KeySetOption {
	return func(o *keySetOptions) {
		if d > 0 {
			o.refresh = d
		}
	}
}

// WithRefetchCooldown sets the least time between two fetches triggered by unknown keys, and between
// retries after a failed fetch (default DefaultRefetchCooldown).
func WithRefetchCooldown(d time.Duration) KeySetOption {
	return func(o *keySetOptions) {
		if d > 0 {
			o.cooldown = d
		}
	}
}

// WithMaxWait bounds how long a verification waits for a fetch in flight (default DefaultMaxWait).
// The fetch itself continues, bounded by its own timeout, and later requests use its result.
func WithMaxWait(d time.Duration) KeySetOption {
	return func(o *keySetOptions) {
		if d > 0 {
			o.maxWait = d
		}
	}
}

// WithKeySetLogger sets the logger for failed fetches; the default discards.
func WithKeySetLogger(l *slog.Logger) KeySetOption {
	return func(o *keySetOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// RemoteKeySet is a KeySet fetched from a JWKS URL and cached. It is safe for concurrent use.
//
// Keys are fetched on first use and again when they expire: after the response's Cache-Control max-age,
// clamped to [5m, 24h], or after the refresh interval when there is none. Call Run in a goroutine to
// refresh ahead of expiry instead of on the request path. Concurrent fetches are coalesced into one. A
// kid not in the set triggers at most one refetch per cooldown, so a flood of forged kids cannot turn
// into a flood of fetches. A verification waits at most the max wait for keys. A failed refresh keeps
// the last good set; if no set was ever fetched, lookups return ErrKeySetUnavailable.
type RemoteKeySet struct {
	url   string
	shown string // url without a password, for errors and logs
	o     keySetOptions
	snap  atomic.Pointer[keySnapshot]
	group singleflight.Group

	mu          sync.Mutex
	fetching    bool
	lastAttempt time.Time // start of the last fetch
	lastUnknown time.Time // last refetch for an unknown key
	lastErr     error     // error of the last fetch, nil after a success
}

// NewRemoteKeySet returns a key set for the JWKS at url, usually GeminiJWKSURL. It fetches nothing
// until first used or until Run is called.
func NewRemoteKeySet(url string, opts ...KeySetOption) *RemoteKeySet {
	o := keySetOptions{
		client:   &http.Client{Timeout: defaultFetchTimeout},
		now:      time.Now,
		refresh:  DefaultRefreshInterval,
		cooldown: DefaultRefetchCooldown,
		maxWait:  DefaultMaxWait,
		logger:   slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&o)
	}
	return &RemoteKeySet{url: url, shown: redactURL(url), o: o}
}

// redactURL drops a password and the query from a URL shown in errors and
// logs: either may hold a credential.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable jwks url)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.Redacted()
}

// Run refreshes the set ahead of its expiry until ctx is done, then returns ctx.Err(). It is optional:
// without it, keys are refreshed on the request path when they expire.
//
//	go keys.Run(ctx)
func (s *RemoteKeySet) Run(ctx context.Context) error {
	for {
		if d := s.untilRefresh(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.startFetch(ctx, true):
		}
	}
}

// untilRefresh is how long Run sleeps: until the set expires, and no sooner than a cooldown after
// the last attempt.
func (s *RemoteKeySet) untilRefresh() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.now()
	var due time.Time
	if snap := s.snap.Load(); snap != nil {
		due = snap.expires
	}
	if !s.lastAttempt.IsZero() {
		if retry := s.lastAttempt.Add(s.o.cooldown); retry.After(due) {
			due = retry
		}
	}
	return due.Sub(now)
}

// Keys implements KeySet.
func (s *RemoteKeySet) Keys(ctx context.Context) ([]PublicKey, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return snap.keys, nil
}

// Key implements KeySet. An unknown kid triggers a refetch, at most once per cooldown.
func (s *RemoteKeySet) Key(ctx context.Context, kid string) (PublicKey, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return PublicKey{}, err
	}
	if k, ok := snap.byKID[kid]; ok {
		return k, nil
	}
	if fresh, changed := s.refreshUnmatched(ctx); changed {
		for _, k := range fresh {
			if k.KID == kid {
				return k, nil
			}
		}
	}
	return PublicKey{}, fmt.Errorf("%w: kid %.64q", ErrUnknownKey, kid)
}

// refreshUnmatched refetches because a key was not found, at most once per cooldown, or joins a fetch
// already in flight. It reports whether a different set is now current.
func (s *RemoteKeySet) refreshUnmatched(ctx context.Context) ([]PublicKey, bool) {
	before := s.snap.Load()
	s.mu.Lock()
	now := s.o.now()
	allowed := s.lastUnknown.IsZero() || now.Sub(s.lastUnknown) >= s.o.cooldown
	if allowed {
		s.lastUnknown = now
	}
	s.mu.Unlock()
	s.wait(ctx, s.startFetch(ctx, allowed))
	after := s.snap.Load()
	if after == nil || after == before {
		return nil, false
	}
	return after.keys, true
}

// current returns a set that has not expired, fetching one if needed; after a failed refresh it
// returns the last good set.
func (s *RemoteKeySet) current(ctx context.Context) (*keySnapshot, error) {
	snap := s.snap.Load()
	if snap != nil && s.o.now().Before(snap.expires) {
		return snap, nil
	}
	s.mu.Lock()
	allowed := s.lastAttempt.IsZero() || s.o.now().Sub(s.lastAttempt) >= s.o.cooldown
	s.mu.Unlock()
	s.wait(ctx, s.startFetch(ctx, allowed))
	if snap = s.snap.Load(); snap != nil {
		return snap, nil
	}
	s.mu.Lock()
	cause := s.lastErr
	s.mu.Unlock()
	if cause == nil {
		return nil, fmt.Errorf("%w: fetch of %s still in flight", ErrKeySetUnavailable, s.shown)
	}
	return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, cause)
}

// startFetch joins the fetch in flight or, if allowed, starts one. It returns nil when it did neither.
// The fetch runs detached from the caller's cancellation so that coalesced waiters are not failed by
// one caller giving up; its own timeout bounds it.
func (s *RemoteKeySet) startFetch(ctx context.Context, allowed bool) <-chan singleflight.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fetching {
		if !allowed {
			return nil
		}
		s.fetching = true
		s.lastAttempt = s.o.now()
	}
	fctx := context.WithoutCancel(ctx)
	return s.group.DoChan("jwks", func() (any, error) {
		err := s.fetch(fctx)
		s.mu.Lock()
		s.fetching = false
		s.lastErr = err
		s.mu.Unlock()
		if err != nil {
			s.o.logger.WarnContext(fctx, "signing: jwks refresh failed; keeping the last good set", "url", s.shown, "err", err)
		}
		return nil, err
	})
}

// wait blocks until the fetch is done, the max wait passes or ctx ends.
func (s *RemoteKeySet) wait(ctx context.Context, ch <-chan singleflight.Result) {
	if ch == nil {
		return
	}
	t := time.NewTimer(s.o.maxWait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *RemoteKeySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, defaultFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fmt.Errorf("signing: fetch jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.o.client.Do(req)
	if err != nil {
		return fmt.Errorf("signing: fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("signing: fetch jwks %s: status %d", s.shown, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("signing: read jwks: %w", err)
	}
	if len(data) > MaxJWKSBytes {
		return fmt.Errorf("signing: jwks %s larger than %d bytes", s.shown, MaxJWKSBytes)
	}
	keys, err := ParseJWKS(data)
	if err != nil {
		return err
	}
	snap, err := newSnapshot(keys)
	if err != nil {
		return err
	}
	snap.expires = s.o.now().Add(s.maxAge(resp.Header.Get("Cache-Control")))
	s.snap.Store(snap)
	return nil
}

// maxAge returns how long a response may be used: its Cache-Control max-age clamped to [5m, 24h],
// or the refresh interval when it has none.
func (s *RemoteKeySet) maxAge(cacheControl string) time.Duration {
	d := s.o.refresh
	for _, dir := range strings.Split(cacheControl, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
		switch strings.ToLower(name) {
		case "no-cache", "no-store":
			d = 0
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
				d = time.Duration(min(n, int64(maxMaxAge/time.Second))) * time.Second
			}
		}
	}
	return min(max(d, minMaxAge), maxMaxAge)
}

var _ KeySet = (*RemoteKeySet)(nil)
