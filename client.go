package geminihooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/genai"
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
	endpoint      *url.URL // base URL joined with the API version
	apiKey        string
	headers       http.Header
	timeout       time.Duration // genai's HTTPOptions.Timeout, for the calls made here
	logger        *slog.Logger
	allowInsecure bool
}

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
func NewClient(gc *genai.Client, opts ...Option) (*Client, error) {
	if gc == nil {
		return nil, errors.New("geminihooks: NewClient: nil genai client")
	}
	s := settings{logger: slog.New(slog.DiscardHandler)}
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
	version := cc.HTTPOptions.APIVersion
	if version == "" {
		version = "v1beta"
	}
	httpClient := cc.HTTPClient
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	c := &Client{
		gc:            gc,
		httpClient:    httpClient,
		endpoint:      base.JoinPath(version),
		apiKey:        cc.APIKey,
		headers:       cc.HTTPOptions.Headers.Clone(),
		logger:        s.logger,
		allowInsecure: s.allowInsecure,
	}
	if cc.HTTPOptions.Timeout != nil {
		c.timeout = *cc.HTTPOptions.Timeout
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
// becomes an *APIError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := *c.endpoint
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + path
	u.RawPath = ""
	u.RawQuery = query.Encode()

	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("geminihooks: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("geminihooks: build request: %w", err)
	}
	for k, vs := range c.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("x-goog-api-key", c.apiKey)
	}
	resp, err := c.httpClient.Do(req)
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
		return fmt.Errorf("geminihooks: read response: %w", err)
	}
	if len(raw) > maxResponseBytes {
		return errors.New("geminihooks: response too large")
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("geminihooks: decode response: %w", err)
	}
	return nil
}
