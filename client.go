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
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/ledger"
)

// Client manages Gemini API webhooks and launches jobs whose completion is
// pushed to a callback. It wraps a *genai.Client, which keeps owning the API
// key, the base URL and the HTTP client.
//
// A Client is safe for concurrent use.
type Client struct {
	// Webhooks manages the project's registered (static) webhooks.
	Webhooks *WebhooksService
	// Batches launches batch jobs with a per-request callback.
	Batches *BatchesService
	// Videos launches video generation with a per-request callback.
	Videos *VideosService
	// Interactions creates and continues background interactions with a
	// per-request callback.
	Interactions *InteractionsService

	// common is what the services share. Its state sits behind a pointer:
	// fmt and slog print every unexported field of a struct, and print a
	// nested pointer as an address, so the API key and headers never show.
	common service
}

// service is the state every service shares; each service type is a
// conversion of it, as in go-github.
type service struct{ client *client }

// Config configures a Client. A nil *Config gives every default; NewClient
// copies it, so later changes have no effect.
type Config struct {
	// APIVersion is the API version every call goes to, such as "v1alpha".
	// Default "v1beta": the webhooks API reference says "This API is in
	// Beta. Endpoints are under /v1beta/", and webhook_config on batch, video
	// and interaction requests is documented only there. The version set on
	// the genai client, or in GOOGLE_GENAI_API_VERSION, is not used: since
	// genai v1.78 it defaults to v1, where WebhookService answers 404.
	APIVersion string

	// InsecureLoopbackHTTP lets webhook and callback URIs use plain http
	// when their host is a loopback address (localhost, 127.0.0.0/8, ::1),
	// for local development and tests against the emulator; every other host
	// still needs https. Default false: https only.
	InsecureLoopbackHTTP bool

	// Ledger records every job the client launches with a callback (usually
	// the ledger beside the listener's inbox, where the listener settles the
	// job when its event arrives),
	// so that a reconciler can find the ones whose event never came; see
	// package reconcile. A recorded job is first due for a look 15 minutes
	// after its launch. Recording happens after the API accepted the job. If
	// it fails, the job is still returned without an error, since it is
	// running and a retried launch would start a second one; the failure is
	// logged at error level with the job's name, and that job is not
	// reconciled. Default nil: no job is recorded.
	Ledger ledger.Ledger

	// TrackStatic makes Ledger also record jobs launched without a
	// callback, whose events go to the project's registered webhooks. Use it
	// when the listener that shares the ledger receives those webhooks. It
	// needs a Ledger. Default false.
	TrackStatic bool

	// Now is the clock the launch times of recorded jobs are read from.
	// Default nil: time.Now.
	Now func() time.Time

	// Logger receives the client's debug lines (method, path, status; never
	// bodies, keys or secrets) and the failures to record a job. Default nil:
	// nothing is logged.
	Logger *slog.Logger
}

// defaultAPIVersion is Config.APIVersion's default.
const defaultAPIVersion = "v1beta"

var apiVersionPattern = regexp.MustCompile(`^v[0-9]+((alpha|beta)[0-9]*)?$`)

// client holds what every call needs. Only a pointer to it is stored in
// Client (see Client.common).
type client struct {
	gc            *genai.Client
	httpClient    *http.Client
	base          *url.URL // genai's base URL
	endpoint      *url.URL // base URL joined with the API version
	apiVersion    string   // the version every call of ours uses
	apiKey        string
	headers       http.Header
	timeout       time.Duration           // genai's HTTPOptions.Timeout, for the calls made here
	retry         *genai.HTTPRetryOptions // genai's HTTPOptions.RetryOptions, likewise
	logger        *slog.Logger
	allowInsecure bool
	tracker       ledger.Ledger // nil: jobs are not recorded
	trackStatic   bool          // record jobs without a callback too
	now           func() time.Time
}

// Maximum sizes read from a response body: the API's own objects are small,
// and an error body is only ever summarised.
const (
	maxResponseBytes = 8 << 20
	maxErrorBytes    = 64 << 10
)

// NewClient returns a Client that sends its requests through gc, configured
// by cfg (nil for every default). gc must use the Gemini Developer API
// backend: webhooks do not exist on Vertex AI.
//
// Every call the Client makes, its own and those it makes through gc, uses
// cfg.APIVersion (v1beta by default), whatever gc's configured or default
// version is: genai v1.78 and later default to v1, where neither
// WebhookService nor webhook_config is served.
func NewClient(gc *genai.Client, cfg *Config) (*Client, error) {
	if gc == nil {
		return nil, errors.New("geminihooks: NewClient: nil genai client")
	}
	var s Config
	if cfg != nil {
		s = *cfg
	}
	if s.APIVersion == "" {
		s.APIVersion = defaultAPIVersion
	} else if !apiVersionPattern.MatchString(s.APIVersion) {
		return nil, fmt.Errorf("geminihooks: Config.APIVersion is %q, need an API version such as v1beta", s.APIVersion)
	}
	if s.TrackStatic && s.Ledger == nil {
		return nil, errors.New("geminihooks: Config.TrackStatic is set without a Config.Ledger to record in")
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	cc := gc.ClientConfig()
	if cc.Backend == genai.BackendVertexAI {
		return nil, errors.New("geminihooks: NewClient: webhooks need the Gemini Developer API backend, not Vertex AI")
	}
	base, err := url.Parse(cc.HTTPOptions.BaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, errors.New("geminihooks: NewClient: genai client has no absolute base URL")
	}
	httpClient := cc.HTTPClient
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	cl := &client{
		gc:            gc,
		httpClient:    httpClient,
		base:          base,
		endpoint:      base.JoinPath(s.APIVersion),
		apiVersion:    s.APIVersion,
		apiKey:        cc.APIKey,
		headers:       cc.HTTPOptions.Headers.Clone(),
		logger:        s.Logger,
		allowInsecure: s.InsecureLoopbackHTTP,
		tracker:       s.Ledger,
		trackStatic:   s.TrackStatic,
		now:           s.Now,
	}
	if cc.HTTPOptions.Timeout != nil {
		cl.timeout = *cc.HTTPOptions.Timeout
	}
	if r := cc.HTTPOptions.RetryOptions; r != nil {
		copied := *r
		copied.HTTPStatusCodes = slices.Clone(r.HTTPStatusCodes)
		cl.retry = &copied
	}
	c := &Client{common: service{client: cl}}
	c.Webhooks = (*WebhooksService)(&c.common)
	c.Batches = (*BatchesService)(&c.common)
	c.Videos = (*VideosService)(&c.common)
	c.Interactions = (*InteractionsService)(&c.common)
	return c, nil
}

// DownloadURI returns the URI the API serves a file's bytes at, for a file
// resource name such as a batch's responses file ("files/ID"): the form a
// delivered event's output_file_uri takes.
func (c *Client) DownloadURI(fileName string) string {
	base := strings.TrimSuffix(c.common.client.endpoint.String(), "/")
	i := strings.LastIndex(base, "/")
	return base[:i] + "/download" + base[i:] + "/" + fileName + ":download?alt=media"
}

// do sends one JSON request to path (relative to the versioned endpoint) and
// decodes a 2xx JSON answer into out when out is non-nil. A non-2xx answer
// becomes an *APIError; other errors are left for convertError to prefix.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.doWith(ctx, nil, method, path, query, in, out)
}

// doWith is do with a call's own genai HTTPOptions (nil allowed): their
// APIVersion, when set, replaces the client's, and their Headers are added
// over the client's, as genai merges them.
func (c *client) doWith(ctx context.Context, opts *genai.HTTPOptions, method, path string, query url.Values, in, out any) error {
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
func (c *client) send(req *http.Request) (*http.Response, error) {
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
