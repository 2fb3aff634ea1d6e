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
)

// Defaults of a RemoteKeySet, and the bounds of a set's lifetime.
const (
	defaultRefreshInterval = time.Hour
	defaultRefetchCooldown = 30 * time.Second
	defaultMaxWait         = 2 * time.Second
	defaultFetchTimeout    = 10 * time.Second
	minMaxAge              = 5 * time.Minute
	maxMaxAge              = 24 * time.Hour
)

// KeySetConfig configures NewRemoteKeySet.
type KeySetConfig struct {
	// HTTPClient fetches the JWKS. Default: a client with a 10-second timeout.
	HTTPClient *http.Client
	// RefreshInterval is how long a fetched set is fresh when the response has no Cache-Control
	// max-age; it must lie in [5m, 24h], the bounds a max-age is clamped to. Default: 1 hour.
	RefreshInterval time.Duration
	// RefetchCooldown is the least time between the starts of two fetches, whatever asks for them:
	// first use, expiry, Refresh on an unknown key, or a retry after a failure. Default: 30 seconds.
	RefetchCooldown time.Duration
	// MaxWait bounds how long a lookup waits for a fetch in flight. The fetch goes on, bounded by its
	// own timeout, and later lookups use its result. Default: 2 seconds.
	MaxWait time.Duration
	// Now tells the time. Default: time.Now.
	Now func() time.Time
	// Logger receives failed fetches. Default: discard.
	Logger *slog.Logger
}

// RemoteKeySet is a KeySet fetched from a JWKS URL and cached. It is safe for concurrent use.
//
// The keys are fetched on first use. A set is fresh for the response's Cache-Control max-age, clamped
// to [5m, 24h], or for the refresh interval when there is none. For as long again it is still used
// while a refresh runs in the background, so that steady traffic never waits for a fetch; older than
// that, a lookup waits for the refresh. At most one fetch runs at a time, and at most one starts per
// cooldown, so a flood of forged kids cannot turn into a flood of fetches. A lookup waits at most
// MaxWait for keys. A failed refresh keeps the last good set; if none was ever fetched, lookups fail
// with ErrKeySetUnavailable.
type RemoteKeySet struct {
	url      string
	shown    string // url without a password or query, for errors and logs
	client   *http.Client
	refresh  time.Duration
	cooldown time.Duration
	maxWait  time.Duration
	now      func() time.Time
	logger   *slog.Logger
	snap     atomic.Pointer[keySnapshot]

	mu          sync.Mutex
	flight      chan struct{} // closed when the fetch in flight ends; nil when none runs
	lastAttempt time.Time     // start of the last fetch
	lastErr     error         // error of the last fetch, nil after a success
}

var _ KeySet = (*RemoteKeySet)(nil)

// NewRemoteKeySet returns a key set for the JWKS at jwksURL, an http or https URL: usually
// GeminiJWKSURL, or an emulator's JWKSURL. It fetches nothing until first used. An error names the
// KeySetConfig field at fault.
func NewRemoteKeySet(jwksURL string, cfg *KeySetConfig) (*RemoteKeySet, error) {
	shown := redactURL(jwksURL)
	if u, err := url.Parse(jwksURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("signing: jwks url %s is not an http or https URL", shown)
	}
	var c KeySetConfig
	if cfg != nil {
		c = *cfg
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RefreshInterval", c.RefreshInterval}, {"RefetchCooldown", c.RefetchCooldown}, {"MaxWait", c.MaxWait}} {
		if d.v < 0 {
			return nil, fmt.Errorf("signing: KeySetConfig.%s is %s, need a positive duration", d.name, d.v)
		}
	}
	if c.RefreshInterval != 0 && (c.RefreshInterval < minMaxAge || c.RefreshInterval > maxMaxAge) {
		return nil, fmt.Errorf("signing: KeySetConfig.RefreshInterval is %s, need %s to %s", c.RefreshInterval, minMaxAge, maxMaxAge)
	}
	s := &RemoteKeySet{
		url:      jwksURL,
		shown:    shown,
		client:   c.HTTPClient,
		refresh:  or(c.RefreshInterval, defaultRefreshInterval),
		cooldown: or(c.RefetchCooldown, defaultRefetchCooldown),
		maxWait:  or(c.MaxWait, defaultMaxWait),
		now:      c.Now,
		logger:   c.Logger,
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: defaultFetchTimeout}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
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

// Keys implements KeySet: it returns the current set, fetching it first if there is none or it is too
// old to use while a refresh runs.
func (s *RemoteKeySet) Keys(ctx context.Context) ([]PublicKey, error) {
	snap := s.snap.Load()
	if snap != nil {
		now := s.now()
		if now.Before(snap.expires) {
			return snap.keys, nil
		}
		if now.Before(snap.staleUntil) {
			s.start(ctx)
			return snap.keys, nil
		}
	}
	s.wait(ctx, s.start(ctx))
	return s.loaded()
}

// Refresh implements KeySet: it fetches the set again, unless a fetch started less than the cooldown
// ago, joins a fetch in flight, and returns the keys then current.
func (s *RemoteKeySet) Refresh(ctx context.Context) ([]PublicKey, error) {
	s.wait(ctx, s.start(ctx))
	return s.loaded()
}

// loaded returns the last good set, or why there is none.
func (s *RemoteKeySet) loaded() ([]PublicKey, error) {
	if snap := s.snap.Load(); snap != nil {
		return snap.keys, nil
	}
	s.mu.Lock()
	cause := s.lastErr
	s.mu.Unlock()
	if cause == nil {
		return nil, fmt.Errorf("%w: fetch of %s still in flight", ErrKeySetUnavailable, s.shown)
	}
	return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, cause)
}

// start returns the channel of the fetch in flight or, when none runs and the cooldown since the last
// start has passed, starts one. It returns nil when it did neither. This is the only place a fetch
// starts, and it decides under one lock, so no interleaving of callers gets a fetch past the
// cooldown. The fetch runs detached from the caller's cancellation so that the callers waiting for it
// are not failed by one giving up; its own timeout bounds it.
func (s *RemoteKeySet) start(ctx context.Context) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight != nil {
		return s.flight
	}
	now := s.now()
	if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.cooldown {
		return nil
	}
	s.lastAttempt = now
	done := make(chan struct{})
	s.flight = done
	go s.run(context.WithoutCancel(ctx), done)
	return done
}

func (s *RemoteKeySet) run(ctx context.Context, done chan struct{}) {
	err := s.fetch(ctx)
	s.mu.Lock()
	s.lastErr = err
	s.flight = nil
	s.mu.Unlock()
	close(done)
	if err != nil {
		s.logger.WarnContext(ctx, "signing: jwks refresh failed; keeping the last good set", "url", s.shown, "err", err)
	}
}

// wait blocks until the fetch is done, the max wait passes or ctx ends.
func (s *RemoteKeySet) wait(ctx context.Context, done <-chan struct{}) {
	if done == nil {
		return
	}
	t := time.NewTimer(s.maxWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *RemoteKeySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, defaultFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fmt.Errorf("signing: fetch jwks %s: %w", s.shown, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// A *url.Error quotes the URL, password and query included: keep only its cause.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Errorf("signing: fetch jwks %s: %w", s.shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("signing: fetch jwks %s: status %d", s.shown, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("signing: read jwks %s: %w", s.shown, err)
	}
	if len(data) > maxJWKSBytes {
		return fmt.Errorf("signing: jwks %s larger than %d bytes", s.shown, maxJWKSBytes)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return err
	}
	life := s.maxAge(resp.Header.Get("Cache-Control"))
	now := s.now()
	s.snap.Store(&keySnapshot{keys: keys, expires: now.Add(life), staleUntil: now.Add(2 * life)})
	return nil
}

// maxAge returns how long a response is fresh: its Cache-Control max-age clamped to [5m, 24h], or the
// refresh interval when it has none.
func (s *RemoteKeySet) maxAge(cacheControl string) time.Duration {
	d := s.refresh
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
