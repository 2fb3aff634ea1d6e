package geminihooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/internal/loopback"
)

// Callback routes a job's completion events to URIs of its own (a "dynamic
// webhook"), instead of the project's registered webhooks, and attaches
// metadata that comes back in every event (event.Event.UserMetadata).
//
// Deliveries to a callback are signed with Google's keys (see package
// signing's NewVerifier with its JWKS key set), not with a webhook secret.
type Callback struct {
	// URIs receive the events: at least one, each unique, https (see
	// WithAllowInsecureCallbacks for loopback http).
	URIs []string
	// UserMetadata is echoed in each event. It must encode as a JSON object
	// of at most MaxUserMetadataBytes.
	UserMetadata map[string]any
}

// Limits on a Callback, checked before anything is sent.
const (
	// MaxUserMetadataBytes bounds the JSON encoding of Callback.UserMetadata.
	MaxUserMetadataBytes = 16 << 10
	// MaxCallbackURIBytes bounds each callback URI.
	MaxCallbackURIBytes = 2048
)

// wireWebhookConfig is webhook_config as the API reads it: snake_case,
// unlike genai's WebhookConfig, which sends "userMetadata".
type wireWebhookConfig struct {
	URIs         []string       `json:"uris"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
}

// prepare validates cb and returns its wire form, with URIs and metadata
// copied so that later changes to cb cannot change what is sent.
func (c *Client) prepare(cb *Callback) (*wireWebhookConfig, error) {
	if len(cb.URIs) == 0 {
		return nil, fmt.Errorf("%w: no URIs", ErrInvalidCallback)
	}
	seen := make(map[string]bool, len(cb.URIs))
	for i, u := range cb.URIs {
		// Positions count from 1, as in every message of the SDK.
		if err := c.checkURI(u); err != nil {
			return nil, fmt.Errorf("geminihooks: callback uri %d of %d: %w", i+1, len(cb.URIs), err)
		}
		if seen[u] {
			return nil, fmt.Errorf("%w: uri %d of %d (%s) is listed twice", ErrInvalidCallback, i+1, len(cb.URIs), safeURI(u))
		}
		seen[u] = true
	}
	w := &wireWebhookConfig{URIs: append([]string(nil), cb.URIs...)}
	if cb.UserMetadata != nil {
		b, err := json.Marshal(cb.UserMetadata)
		if err != nil {
			// The encoder names the offending type or float value, not the data.
			return nil, fmt.Errorf("%w: user metadata does not encode as JSON: %w", ErrInvalidCallback, err)
		}
		if len(b) > MaxUserMetadataBytes {
			return nil, fmt.Errorf("%w: user metadata is %d bytes of JSON, more than %d", ErrInvalidCallback, len(b), MaxUserMetadataBytes)
		}
		// Send the encoded form, decoded again, so what goes on the wire is
		// exactly what was checked and the caller's map is never shared.
		// UseNumber keeps large integers exact.
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&w.UserMetadata); err != nil {
			return nil, fmt.Errorf("%w: user metadata: %w", ErrInvalidCallback, err)
		}
	}
	return w, nil
}

// uriError rejects a webhook or callback URI. It reads "invalid uri ...:
// reason" whatever it is used for, and matches ErrInvalidCallback.
type uriError struct{ uri, reason string }

func (e *uriError) Error() string {
	if e.uri == "" {
		return "invalid uri: " + e.reason
	}
	return "invalid uri " + e.uri + ": " + e.reason
}

func (e *uriError) Is(target error) bool { return target == ErrInvalidCallback }

// checkURI accepts an absolute https URI, or http to a loopback host when the
// client allows insecure callbacks. Its error names the URI without its
// query, where tokens tend to live.
func (c *Client) checkURI(raw string) error {
	if raw == "" {
		return &uriError{reason: "empty"}
	}
	if len(raw) > MaxCallbackURIBytes {
		return &uriError{reason: fmt.Sprintf("longer than %d bytes", MaxCallbackURIBytes)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return &uriError{reason: "does not parse"}
	}
	bad := func(reason string) error { return &uriError{uri: safeURI(raw), reason: reason} }
	// Hostname, not Host: "https://:443/x" has a Host and no host.
	if u.Hostname() == "" || u.Opaque != "" {
		return bad("not absolute")
	}
	if u.User != nil {
		return bad("carries credentials")
	}
	if u.Fragment != "" {
		return bad("has a fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if !loopback.Host(u.Hostname()) {
			return bad("must use https")
		}
		if !c.allowInsecure {
			return bad("uses http; loopback http needs WithAllowInsecureCallbacks")
		}
		return nil
	}
	return bad("must use https")
}

// safeURI shows a URI in an error without its query, fragment or user
// information, where tokens tend to live.
func safeURI(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// takeCallback returns the callback to send: cb, or the webhook config the
// caller put in a genai config, which it moves out of the config (*own
// becomes nil) so that it is validated and sent in snake_case too. Both at
// once is an error.
func takeCallback(own **genai.WebhookConfig, cb *Callback) (*Callback, error) {
	if *own == nil {
		return cb, nil
	}
	if cb != nil {
		return nil, errTwoCallbacks
	}
	w := *own
	*own = nil
	return &Callback{URIs: w.Uris, UserMetadata: w.UserMetadata}, nil
}

// errTwoCallbacks is returned when a job is given both a Callback and a
// webhook config inside its genai config.
var errTwoCallbacks = fmt.Errorf("%w: both a Callback and a WebhookConfig in the config; pass one", ErrInvalidCallback)

// requestOptions returns a copy of opts (nil allowed) for one call made
// through genai, with the client's API version unless opts names one: genai
// would otherwise use its own, v1 by default since v1.78.
func (c *Client) requestOptions(opts *genai.HTTPOptions) *genai.HTTPOptions {
	out := genai.HTTPOptions{}
	if opts != nil {
		out = *opts
		out.Headers = opts.Headers.Clone()
		if opts.ExtraBody != nil {
			out.ExtraBody = cloneMap(opts.ExtraBody)
		}
	}
	if out.APIVersion == "" {
		out.APIVersion = c.apiVersion
	}
	return &out
}

// setWebhookConfig makes opts' request hook write wc at path in the body,
// after any hook the caller or the genai client set, and delete genai's
// camelCase "webhookConfig" there.
func (c *Client) setWebhookConfig(opts *genai.HTTPOptions, wc *wireWebhookConfig, path ...string) {
	prev := opts.ExtrasRequestProvider
	if prev == nil {
		// genai runs only the request's provider when one is set, so keep
		// the client-level one in the chain.
		prev = c.gc.ClientConfig().HTTPOptions.ExtrasRequestProvider
	}
	opts.ExtrasRequestProvider = func(body map[string]any) map[string]any {
		if prev != nil {
			body = prev(body)
		}
		if body == nil {
			body = map[string]any{}
		}
		m := body
		for _, k := range path {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		delete(m, "webhookConfig")
		m["webhook_config"] = wc
		return body
	}
}

// cloneMap copies the nested maps of a request-body fragment, so merging it
// into a body never writes into the caller's ExtraBody.
func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = cloneMap(sub)
		}
		out[k] = v
	}
	return out
}

var errNilSource = errors.New("geminihooks: nil source")
