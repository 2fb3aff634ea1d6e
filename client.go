package geminihooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/ledger"
)

// Client manages Gemini API webhooks and launches jobs whose completion is
// pushed to a callback. It wraps a *genai.Client, which keeps owning the API
// key, the base URL, the API version and the HTTP client.
//
// A Client is safe for concurrent use.
type Client struct {
	common service

	// Webhooks manages the project's registered (static) webhooks.
	Webhooks *WebhooksService
	// Batches launches batch jobs with a per-request callback.
	Batches *BatchesService
	// Videos launches video generation with a per-request callback.
	Videos *VideosService
	// Interactions creates and continues background interactions with a
	// per-request callback.
	Interactions *InteractionsService

	gc            *genai.Client
	httpClient    *http.Client
	base          *url.URL // genai's base URL
	endpoint      *url.URL // base URL joined with the API version
	apiVersion    string   // the version every call of ours uses: v1beta unless WithAPIVersion
	apiKey        string
	headers       http.Header
	timeout       time.Duration           // genai's HTTPOptions.Timeout, for the calls made here
	retry         *genai.HTTPRetryOptions // genai's HTTPOptions.RetryOptions, likewise
	logger        *slog.Logger
	allowInsecure bool
	tracker       ledger.Ledger // nil: jobs are not tracked
	trackStatic   bool          // track jobs without a callback too
	now           func() time.Time
}

// String, GoString and LogValue describe the client by its endpoint only:
// fmt would print every unexported field, the API key and the headers among
// them, as genai's own configs do.
func (c Client) String() string {
	if c.endpoint == nil {
		return "geminihooks.Client{}"
	}
	return "geminihooks.Client{endpoint: " + c.endpoint.Redacted() + "}"
}

// GoString hides the API key from %#v as well.
func (c Client) GoString() string { return c.String() }

// LogValue hides the API key from slog.
func (c Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// service is the state every service shares; each service type is a
// conversion of it, as in go-github.
type service struct{ client *Client }

// Maximum sizes read from a response body: the API's own objects are small,
// and an error body is only ever summarised.
const (
	maxResponseBytes = 8 << 20
	maxErrorBytes    = 64 << 10
)

// NewClient returns a Client that sends its requests through gc. gc must use
// the Gemini Developer API backend: webhooks do not exist on Vertex AI.
//
// Every call the Client makes, its own and those it makes through gc, uses
// API version v1beta (DefaultAPIVersion), whatever gc's configured or
// default version is: genai v1.78 and later default to v1, where neither
// WebhookService nor webhook_config is served. WithAPIVersion overrides it.
func NewClient(gc *genai.Client, opts ...Option) (*Client, error) {
	if gc == nil {
		return nil, errors.New("geminihooks: NewClient: nil genai client")
	}
	s := settings{logger: slog.New(slog.DiscardHandler), now: time.Now}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("geminihooks: NewClient: nil option")
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	cc := gc.ClientConfig()
	if cc.Backend == genai.BackendVertexAI {
		return nil, errors.New("geminihooks: NewClient: webhooks need the Gemini Developer API backend, not Vertex AI")
	}
	base, err := url.Parse(cc.HTTPOptions.BaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, errors.New("geminihooks: NewClient: genai client has no absolute base URL")
	}
	version := s.apiVersion
	if version == "" {
		version = DefaultAPIVersion
	}
	httpClient := cc.HTTPClient
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	c := &Client{
		gc:            gc,
		httpClient:    httpClient,
		base:          base,
		endpoint:      base.JoinPath(version),
		apiVersion:    version,
		apiKey:        cc.APIKey,
		headers:       cc.HTTPOptions.Headers.Clone(),
		logger:        s.logger,
		allowInsecure: s.allowInsecure,
		tracker:       s.tracker,
		trackStatic:   s.trackStatic,
		now:           s.now,
	}
	if cc.HTTPOptions.Timeout != nil {
		c.timeout = *cc.HTTPOptions.Timeout
	}
	if r := cc.HTTPOptions.RetryOptions; r != nil {
		copied := *r
		copied.HTTPStatusCodes = slices.Clone(r.HTTPStatusCodes)
		c.retry = &copied
	}
	c.common.client = c
	c.Webhooks = (*WebhooksService)(&c.common)
	c.Batches = (*BatchesService)(&c.common)
	c.Videos = (*VideosService)(&c.common)
	c.Interactions = (*InteractionsService)(&c.common)
	return c, nil
}

// do sends one JSON request to path (relative to the versioned endpoint) and
// decodes a 2xx JSON answer into out when out is non-nil. A non-2xx answer
// becomes an *APIError; other errors are left for convertError to prefix.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.doWith(ctx, nil, method, path, query, in, out)
}

// doWith is do with a call's own genai HTTPOptions (nil allowed): their
// APIVersion, when set, replaces the client's, and their Headers are added
// over the client's, as genai merges them.
func (c *Client) doWith(ctx context.Context, opts *genai.HTTPOptions, method, path string, query url.Values, in, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := *c.endpoint
	if opts != nil && opts.APIVersion != "" {
		u = *c.base.JoinPath(opts.APIVersion)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + path
	u.RawPath = ""
	u.RawQuery = query.Encode()

	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for k, vs := range c.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if opts != nil {
		for k, vs := range opts.Headers {
			req.Header.Del(k)
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("x-goog-api-key", c.apiKey)
	}
	resp, err := c.send(req)
	if err != nil {
		c.logger.DebugContext(ctx, "geminihooks: request failed", "method", method, "path", path)
		// *url.Error names the URL, which never carries the key (it travels in a header).
		return err
	}
	defer resp.Body.Close()
	c.logger.DebugContext(ctx, "geminihooks: request", "method", method, "path", path, "status", resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return parseAPIError(resp.StatusCode, raw, c.apiKey)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if len(raw) > maxResponseBytes {
		return errors.New("response too large")
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// The defaults genai applies to HTTPOptions.RetryOptions fields left nil.
const (
	defaultRetryAttempts     = 5 // including the first
	defaultRetryInitialDelay = 1.0
	defaultRetryMaxDelay     = 60.0
	defaultRetryExpBase      = 2.0
	defaultRetryJitter       = 1.0
)

var defaultRetryCodes = []int32{408, 429, 500, 502, 503, 504}

// send performs req, retrying the way genai does for its own calls when the
// genai client was given HTTPOptions.RetryOptions (and only then), so that
// webhook calls and job launches follow one policy.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	opts := c.retry
	if opts == nil {
		return c.httpClient.Do(req)
	}
	attempts := defaultRetryAttempts
	if opts.Attempts != nil {
		attempts = max(int(*opts.Attempts), 1)
	}
	codes := defaultRetryCodes
	if len(opts.HTTPStatusCodes) > 0 {
		codes = opts.HTTPStatusCodes
	}
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		resp, err := c.httpClient.Do(req)
		retryable := err != nil || slices.Contains(codes, int32(resp.StatusCode))
		if attempt >= attempts || !retryable || ctx.Err() != nil {
			return resp, err
		}
		if resp != nil {
			resp.Body.Close()
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("rewind request body: %w", err)
			}
			req.Body = body
		}
		c.logger.DebugContext(ctx, "geminihooks: retrying", "method", req.Method, "path", req.URL.Path, "attempt", attempt+1)
		t := time.NewTimer(retryDelay(attempt, opts))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// retryDelay is genai's backoff: min(initial*base^(attempt-1) + U(0, jitter),
// max) seconds.
func retryDelay(attempt int, opts *genai.HTTPRetryOptions) time.Duration {
	pick := func(p *float64, def float64) float64 {
		if p != nil {
			return *p
		}
		return def
	}
	initial := pick(opts.InitialDelay, defaultRetryInitialDelay)
	maxDelay := pick(opts.MaxDelay, defaultRetryMaxDelay)
	base := pick(opts.ExpBase, defaultRetryExpBase)
	jitter := pick(opts.Jitter, defaultRetryJitter)
	seconds := min(initial*math.Pow(base, float64(attempt-1))+rand.Float64()*jitter, maxDelay)
	return time.Duration(max(seconds, 0) * float64(time.Second))
}
