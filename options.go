package geminihooks

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/geminihooks/geminihooks/ledger"
)

// Option configures a Client. Options validate their arguments, so NewClient
// can fail on a bad one.
type Option func(*settings) error

type settings struct {
	apiVersion    string
	logger        *slog.Logger
	allowInsecure bool
	tracker       ledger.Ledger
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

// DefaultAPIVersion is the API version a Client uses for every call: the
// webhooks API reference says "This API is in Beta. Endpoints are under
// /v1beta/", and webhook_config on batch, video and interaction requests
// is documented only there.
const DefaultAPIVersion = "v1beta"

var apiVersionPattern = regexp.MustCompile(`^v[0-9]+((alpha|beta)[0-9]*)?$`)

// WithAPIVersion makes the client send every call to API version v (such as
// "v1alpha") instead of DefaultAPIVersion. The version configured on the
// genai client, or in GOOGLE_GENAI_API_VERSION, is not used: since genai
// v1.78 it defaults to v1, where WebhookService answers 404.
func WithAPIVersion(v string) Option {
	return func(s *settings) error {
		if !apiVersionPattern.MatchString(v) {
			return fmt.Errorf("geminihooks: WithAPIVersion: %q is not an API version such as v1beta", v)
		}
		s.apiVersion = v
		return nil
	}
}
