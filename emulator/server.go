package emulator

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/emulator/internal/delivery"
)

// Server is a running emulator. Like httptest.Server, it listens as soon as
// NewServer returns; Close stops it.
type Server struct {
	// URL is the base URL with no trailing slash, for example
	// "http://127.0.0.1:41327". Use it as genai's HTTPOptions.BaseURL.
	URL string
	// APIKey is the key every API call must carry in x-goog-api-key.
	APIKey string

	cfg    Config // with its defaults applied
	ln     net.Listener
	srv    *http.Server
	engine *delivery.Engine
	keys   *keyring
	done   chan struct{} // closed by Close; stops job timers

	mu        sync.Mutex
	webhooks  map[string]*webhook
	whOrder   []string
	jobs      map[string]*job
	jobSeq    int
	batchList []string // batch names in creation order, for list
	files     map[string]file
	active    int           // scheduled job steps not yet run
	idle      chan struct{} // closed when active drops to zero
	closeOnce sync.Once
}

// NewServer starts an emulator listening on 127.0.0.1 on a free port, or on
// Config.Addr. It copies cfg, which may be nil: every default.
func NewServer(cfg *Config) (*Server, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err) // "listen tcp ADDR: ..." says the rest
	}
	s := &Server{
		URL:      "http://" + dialable(ln.Addr()),
		APIKey:   c.APIKey,
		cfg:      c,
		ln:       ln,
		keys:     keys,
		done:     make(chan struct{}),
		webhooks: make(map[string]*webhook),
		jobs:     make(map[string]*job),
		files:    make(map[string]file),
		idle:     make(chan struct{}),
	}
	close(s.idle)
	s.engine = delivery.New(s.engineOptions())
	s.engine.SetFaults(c.Faults.internal())
	// Every timeout set, so a slow or idle client cannot hold a connection
	// (the API's requests and answers are small).
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// dialable is addr with an unspecified IP (from Addr "0.0.0.0:8686" or
// ":8686") replaced by loopback, so URL can be dialled.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

// JWKSURL is where the emulator publishes its dynamic-signing keys.
func (s *Server) JWKSURL() string { return s.URL + "/.well-known/jwks.json" }

// Close stops the listener and closes every connection, cancels pending job
// steps and stops the delivery engine. Deliveries still in flight are
// abandoned.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.srv.Close()
		s.mu.Lock()
		for _, j := range s.jobs {
			s.stopLocked(j)
		}
		s.mu.Unlock()
		s.engine.Close()
	})
}

// Idle waits until every automatically scheduled job step has run and every
// delivery has settled (succeeded or given up). Jobs held by ManualJobs
// do not count. Use it in tests instead of sleeping.
//
// A delivery to a URL that never answers 2xx settles only when its retries
// give up: after the retry window, 24 hours by default (Config.RetryWindow,
// divided by TimeScale), so Idle blocks that long unless ctx ends first.
// To stop retrying sooner, disable or delete the registered webhook (its
// pending deliveries are dropped at once; 20 consecutive failures, by
// default, disable it too), give tests a short RetryWindow, or Close the
// server, which drops every delivery.
func (s *Server) Idle(ctx context.Context) error {
	for {
		s.mu.Lock()
		n, ch := s.active, s.idle
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("emulator: waiting for jobs: %w", ctx.Err())
		}
	}
	if err := s.engine.Idle(ctx); err != nil {
		return fmt.Errorf("emulator: waiting for deliveries: %w", err)
	}
	return nil
}

// ServeHTTP serves the emulated API. It is exported so the emulator can be
// mounted on another server; NewServer already serves it on URL.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/.well-known/jwks.json":
		s.serveJWKS(w, r)
		return
	case path == "/emulator/v1/deliveries":
		s.serveDeliveries(w, r)
		return
	case path == "/emulator/v1/jobs":
		s.serveJobList(w, r)
		return
	case strings.HasPrefix(path, "/emulator/v1/"):
		s.serveAdmin(w, r)
		return
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	download := false
	if len(segs) > 0 && segs[0] == "download" {
		download, segs = true, segs[1:]
	}
	if len(segs) < 2 || !isAPIVersion(segs[0]) {
		writeError(w, errNotFound("Method not found."))
		return
	}
	if e := s.authenticate(r); e != nil {
		writeError(w, e)
		return
	}
	version := segs[0]
	segs = segs[1:]
	if segs[0] == "webhooks" && version != webhooksVersion {
		// WebhookService is served on v1beta only: genai v1.78's changelog,
		// and the API reference ("Endpoints are under /v1beta/").
		writeError(w, errMethodNotFound)
		return
	}
	if download && segs[0] != "files" {
		writeError(w, errNotFound("Method not found."))
		return
	}
	var h func(http.ResponseWriter, *http.Request, []string) *apiError
	switch segs[0] {
	case "webhooks":
		h = s.routeWebhooks
	case "batches":
		h = s.routeBatches
	case "models":
		h = s.routeModels
	case "interactions":
		h = s.routeInteractions
	case "files":
		h = s.routeFiles
	}
	if h == nil {
		writeError(w, errNotFound("Method not found."))
		return
	}
	if e := h(w, r, segs[1:]); e != nil {
		writeError(w, e)
	}
}

// isAPIVersion reports whether v is a version the Gemini API serves its
// batch, model, interaction and file routes on.
func isAPIVersion(v string) bool { return v == "v1beta" || v == "v1" || v == "v1alpha" }

// webhooksVersion is the one version WebhookService answers on.
const webhooksVersion = "v1beta"

var errMethodNotFound = errNotFound("Method not found.")

// authenticate checks x-goog-api-key (or the key query parameter), answering
// as the real service does when it is missing or wrong.
func (s *Server) authenticate(r *http.Request) *apiError {
	key := r.Header.Get("x-goog-api-key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	if key == "" {
		return &apiError{Code: http.StatusForbidden, Status: "PERMISSION_DENIED",
			Message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."}
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.APIKey)) != 1 {
		return errInvalid("API key not valid. Please pass a valid API key.")
	}
	return nil
}

const maxBody = 10 << 20

// decodeObject reads a JSON object body. An empty body is an empty object.
func decodeObject(r *http.Request) (map[string]json.RawMessage, *apiError) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, errInvalid("Invalid JSON payload received. Could not read the request body.")
	}
	if len(b) > maxBody {
		return nil, &apiError{Code: http.StatusRequestEntityTooLarge, Status: "INVALID_ARGUMENT", Message: "Request payload size exceeds the limit."}
	}
	return parseObject(b)
}

func parseObject(b []byte) (map[string]json.RawMessage, *apiError) {
	m := map[string]json.RawMessage{}
	if len(strings.TrimSpace(string(b))) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, errInvalid("Invalid JSON payload received. Expected an object.")
		}
		return nil, errInvalid("Invalid JSON payload received. Unexpected token.")
	}
	if m == nil { // the body was "null"
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

// field returns the value of a proto-JSON field, accepted under its
// snake_case or lowerCamelCase name as the real service does.
func field(m map[string]json.RawMessage, snake string) (json.RawMessage, bool) {
	if v, ok := m[snake]; ok {
		return v, true
	}
	v, ok := m[lowerCamel(snake)]
	return v, ok
}

func lowerCamel(snake string) string {
	parts := strings.Split(snake, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// rejectUnknown fails on any field that is not in known (snake_case names;
// their lowerCamelCase forms are accepted too). at names the message's path.
func rejectUnknown(m map[string]json.RawMessage, at string, known ...string) *apiError {
	for k := range m {
		ok := false
		for _, n := range known {
			if k == n || k == lowerCamel(n) {
				ok = true
				break
			}
		}
		if !ok {
			return unknownName(k, at)
		}
	}
	return nil
}

func unknownName(name, at string) *apiError {
	if at == "" {
		return errInvalid(fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", name))
	}
	return errInvalid(fmt.Sprintf("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", name, at))
}

func decodeField(m map[string]json.RawMessage, name string, dst any) (bool, *apiError) {
	raw, ok := field(m, name)
	if !ok || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, errInvalid(fmt.Sprintf("Invalid JSON payload received. Invalid value at '%s'.", name))
	}
	return true, nil
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n characters from [a-z0-9], the shape of real
// webhook ids.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func errorf(format string, args ...any) error { return fmt.Errorf("emulator: "+format, args...) }

func itoa(i int) string { return strconv.Itoa(i) }
