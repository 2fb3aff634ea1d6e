package geminihooks

import (
	"errors"
	"log/slog"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
)

// Option configures a Client. Options validate their arguments, so NewClient
// can fail on a bad one.
type Option func(*settings) error

type settings struct {
	logger        *slog.Logger
	allowInsecure bool
	tracker       inbox.Tracker
	trackStatic   bool
	now           func() time.Time
}

// WithLogger makes the client log requests (method, path, status; never bodies,
// keys or secrets) to l. The default is a discard logger.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return errors.New("geminihooks: WithLogger: nil logger")
		}
		s.logger = l
		return nil
	}
}

// WithAllowInsecureCallbacks lets webhook and callback URIs use plain http when
// their host is a loopback address (localhost, 127.0.0.0/8, ::1). It exists for
// local development and tests against the emulator; every other host still
// needs https.
func WithAllowInsecureCallbacks() Option {
	return func(s *settings) error {
		s.allowInsecure = true
		return nil
	}
}
