package geminihooks

import (
	"bytes"
	"context"
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
//
// A Callback is checked before anything is sent; an error that rejects one
// matches ErrInvalidArgument.
type Callback struct {
	// URIs receive the events: at least one, each unique, https (loopback
	// http with Config.InsecureLoopbackHTTP), of at most 2048 bytes.
	URIs []string
	// UserMetadata is echoed in each event. It must encode as a JSON object
	// of at most 16 KiB.
	UserMetadata map[string]any
}

// Limits on a Callback, as its documentation states them.
const (
	maxUserMetadataBytes = 16 << 10 // the JSON encoding of UserMetadata
	maxCallbackURIBytes  = 2048     // each URI
)

// wireWebhookConfig is webhook_config as the API reads it: snake_case,
// unlike genai's WebhookConfig, which sends "userMetadata".
type wireWebhookConfig struct {
	URIs         []string       `json:"uris"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
}

// prepare validates cb and returns its wire form, with URIs and metadata
// copied so that later changes to cb cannot change what is sent.
func (c *client) prepare(cb *Callback) (*wireWebhookConfig, error) {
	if len(cb.URIs) == 0 {
		return nil, fmt.Errorf("%w: no URIs", ErrInvalidArgument)
	}
	seen := make(map[string]bool, len(cb.URIs))
	for i, u := range cb.URIs {
		// Positions count from 1, as in every message of the SDK.
		if err := c.checkURI(u); err != nil {
			return nil, fmt.Errorf("geminihooks: callback uri %d of %d: %w", i+1, len(cb.URIs), err)
		}
		if seen[u] {
			return nil, fmt.Errorf("%w: uri %d of %d (%s) is listed twice", ErrInvalidArgument, i+1, len(cb.URIs), safeURI(u))
		}
		seen[u] = true
	}
	w := &wireWebhookConfig{URIs: append([]string(nil), cb.URIs...)}
	if cb.UserMetadata != nil {
		b, err := json.Marshal(cb.UserMetadata)
		if err != nil {
			// The encoder names the offending type or float value, not the data.
			return nil, fmt.Errorf("%w: user metadata does not encode as JSON: %w", ErrInvalidArgument, err)
		}
		if len(b) > maxUserMetadataBytes {
			return nil, fmt.Errorf("%w: user metadata is %d bytes of JSON, more than %d", ErrInvalidArgument, len(b), maxUserMetadataBytes)
		}
		// Send the encoded form, decoded again, so what goes on the wire is
		// exactly what was checked and the caller's map is never shared.
		// UseNumber keeps large integers exact.
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&w.UserMetadata); err != nil {
			return nil, fmt.Errorf("%w: user metadata: %w", ErrInvalidArgument, err)
		}
	}
	return w, nil
}

// uriError rejects a webhook or callback URI. It reads "invalid uri ...:
// reason" whatever it is used for, and matches ErrInvalidArgument.
type uriError struct{ uri, reason string }

func (e *uriError) Error() string {
	if e.uri == "" {
		return "invalid uri: " + e.reason
	}
	return "invalid uri " + e.uri + ": " + e.reason
}

func (e *uriError) Is(target error) bool { return target == ErrInvalidArgument }

// checkURI accepts an absolute https URI, or http to a loopback host when the
// client allows insecure callbacks. Its error names the URI without its
// query, where tokens tend to live.
func (c *client) checkURI(raw string) error {
	if raw == "" {
		return &uriError{reason: "empty"}
	}
	if len(raw) > maxCallbackURIBytes {
		return &uriError{reason: fmt.Sprintf("longer than %d bytes", maxCallbackURIBytes)}
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
			return bad("uses http; loopback http needs Config.InsecureLoopbackHTTP")
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

// launch is the flow every job launch shares. It validates the callback:
// cb, or own, the one the caller put inside the request (both at once is an
// error). It then calls send with the callback's wire form (nil without a
// callback), which adds it to the request, makes the call and returns the
// job's name, and records the job (see Config.Tracker). send returns "" for
// a job with no event to come, which is not recorded.
func (c *client) launch(ctx context.Context, kind jobKind, own, cb *Callback, send func(wc *wireWebhookConfig) (name string, err error)) error {
	if own != nil {
		if cb != nil {
			return errTwoCallbacks
		}
		cb = own
	}
	var wc *wireWebhookConfig
	if cb != nil {
		var err error
		if wc, err = c.prepare(cb); err != nil {
			return err
		}
	}
	name, err := send(wc)
	if err != nil {
		return err
	}
	c.track(ctx, kind, name, wc)
	return nil
}

// moveCallback takes the webhook config the caller put in a genai config out
// of it (*own becomes nil), so that launch validates it and it is sent in
// snake_case too. It returns nil when there is none.
func moveCallback(own **genai.WebhookConfig) *Callback {
	w := *own
	if w == nil {
		return nil
	}
	*own = nil
	return &Callback{URIs: w.Uris, UserMetadata: w.UserMetadata}
}

// errTwoCallbacks is returned when a job is given both a Callback and a
// webhook config inside its request.
var errTwoCallbacks = fmt.Errorf("%w: both a Callback and a webhook config in the request; pass one", ErrInvalidArgument)

// requestOptions returns a copy of opts (nil allowed) for one call made
// through genai, with the client's API version unless opts names one: genai
// would otherwise use its own, v1 by default since v1.78.
func (c *client) requestOptions(opts *genai.HTTPOptions) *genai.HTTPOptions {
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
func (c *client) setWebhookConfig(opts *genai.HTTPOptions, wc *wireWebhookConfig, path ...string) {
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
