// Package backend gives the examples what they run against: the in-process
// emulator by default, or the real Gemini API when a public URL for the
// listener is given. It also sets up the example's webhook endpoint (the
// example serves it with its listener's Serve) and prints its log. It holds only set-up; what each example shows about
// geminihooks lives in the example itself.
package backend

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/signing"
)

// HookPath is where every example mounts its listener.
const HookPath = "/gemini/webhook"

// GeminiBaseURL is the real API's base URL.
const GeminiBaseURL = "https://generativelanguage.googleapis.com"

// Config says where an example runs.
type Config struct {
	// PublicURL, when set, is the https base URL at which Gemini reaches this
	// process (a tunnel or a load balancer in front of Addr). Setting it
	// selects the real API, with the key in GEMINI_API_KEY.
	PublicURL string
	// Addr is the listen address for the webhook endpoint. The default is a
	// free loopback port with the emulator and ":8080" with the real API.
	Addr string
	// Emulator, when set, is used instead of starting one (tests pass theirs
	// to inspect it afterwards). Ignored with PublicURL.
	Emulator *emulator.Server
	// EmulatorOutcome, when set, chooses each job's outcome in an emulator
	// this package starts (emulator.Config.Outcome).
	EmulatorOutcome func(emulator.Job) emulator.Outcome
}

// RegisterFlags binds the flags every example shares to c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.PublicURL, "public-url", "", "public https base URL of this process; selects the real Gemini API (needs GEMINI_API_KEY)")
	fs.StringVar(&c.Addr, "addr", "", "listen address for the webhook endpoint (default: a free loopback port, or :8080 with -public-url)")
}

// Env is a running backend: the API clients and the webhook endpoint.
type Env struct {
	// GenAI and Client talk to the emulator or the real API.
	GenAI  *genai.Client
	Client *geminihooks.Client
	// Emulator is nil against the real API.
	Emulator *emulator.Server
	// BaseURL and APIKey are where the API is and the key it takes.
	BaseURL, APIKey string
	// HookURL is the URL Gemini delivers to: the endpoint's public address.
	HookURL string
	// Mux serves HookURL's host; register the listener at HookPath.
	Mux *http.ServeMux
	// Server serves Mux on Socket, which is bound to HookURL's port; the
	// example serves them with its listener's Serve.
	Server *http.Server
	Socket net.Listener

	ownsEmu bool
}

// Start starts the emulator (unless the config names the real API or an
// emulator of its own), the clients and the webhook endpoint.
func Start(ctx context.Context, cfg Config) (*Env, error) {
	e := &Env{Mux: http.NewServeMux()}
	var ccfg geminihooks.Config
	addr := cfg.Addr
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, errors.New("backend: -public-url must be an absolute https URL")
		}
		e.APIKey = os.Getenv("GEMINI_API_KEY")
		if e.APIKey == "" {
			return nil, errors.New("backend: -public-url selects the real API, which needs GEMINI_API_KEY")
		}
		e.BaseURL = GeminiBaseURL
		e.HookURL = strings.TrimSuffix(cfg.PublicURL, "/") + HookPath
		if addr == "" {
			addr = ":8080"
		}
	} else {
		e.Emulator = cfg.Emulator
		if e.Emulator == nil {
			emu, err := emulator.NewServer(&emulator.Config{
				InsecureAllowHTTPLoopback: true,
				Pending:                   50 * time.Millisecond,
				Running:                   150 * time.Millisecond,
				Outcome:                   cfg.EmulatorOutcome,
			})
			if err != nil {
				return nil, err
			}
			e.Emulator, e.ownsEmu = emu, true
		}
		e.BaseURL, e.APIKey = e.Emulator.URL, e.Emulator.APIKey
		// The emulator delivers to plain http on loopback; the real API
		// never would.
		ccfg.InsecureLoopbackHTTP = true
		if addr == "" {
			addr = "127.0.0.1:0"
		}
	}

	gcfg := &genai.ClientConfig{APIKey: e.APIKey, Backend: genai.BackendGeminiAPI}
	if e.Emulator != nil {
		gcfg.HTTPOptions = genai.HTTPOptions{BaseURL: e.BaseURL}
	}
	gc, err := genai.NewClient(ctx, gcfg)
	if err != nil {
		e.closeEmulator()
		return nil, fmt.Errorf("backend: genai client: %w", err)
	}
	c, err := geminihooks.NewClient(gc, &ccfg)
	if err != nil {
		e.closeEmulator()
		return nil, err
	}
	e.GenAI, e.Client = gc, c

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		e.closeEmulator()
		return nil, fmt.Errorf("backend: listen: %w", err)
	}
	if e.HookURL == "" {
		e.HookURL = "http://" + ln.Addr().String() + HookPath
	}
	e.Socket = ln
	e.Server = &http.Server{Handler: e.Mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	return e, nil
}

// Describe says where the example runs, for its log.
func (e *Env) Describe() string {
	if e.Emulator != nil {
		return "emulator " + e.BaseURL + " (offline; -public-url with GEMINI_API_KEY uses the real API)"
	}
	return "Gemini API " + e.BaseURL
}

// Settle waits until the emulator has delivered everything it queued, so
// retries and duplicates are answered before the listener stops. Against the
// real API there is nothing to wait for.
func (e *Env) Settle(ctx context.Context) error {
	if e.Emulator == nil {
		return nil
	}
	return e.Emulator.Idle(ctx)
}

// DynamicVerifier returns a verifier for webhook_config deliveries, with the
// keys of the JWKS Gemini (or the emulator) publishes; JWTs must name hookURL
// as their audience.
func (e *Env) DynamicVerifier() (*signing.Verifier, error) {
	jwks := signing.GeminiJWKSURL
	if e.Emulator != nil {
		jwks = e.Emulator.JWKSURL()
	}
	return JWKSVerifier(jwks, e.HookURL)
}

// JWKSVerifier verifies callback deliveries (v1a and JWT) with the keys of
// the JWKS at jwksURL; a JWT must name hookURL as its audience. The key set
// refreshes itself in the background as its keys age.
func JWKSVerifier(jwksURL, hookURL string) (*signing.Verifier, error) {
	keys, err := signing.NewRemoteKeySet(jwksURL, nil)
	if err != nil {
		return nil, err
	}
	return signing.NewVerifier(&signing.Config{Keys: keys, Audience: []string{hookURL}})
}

// Close closes the endpoint's socket, which the listener's Serve has closed
// already when it ran, and stops an emulator Start started.
func (e *Env) Close() {
	e.Socket.Close()
	e.closeEmulator()
}

func (e *Env) closeEmulator() {
	if e.ownsEmu {
		e.Emulator.Close()
	}
}

// Log is an example's log: short lines, safe for concurrent handlers.
type Log struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLog returns a Log writing to w.
func NewLog(w io.Writer) *Log { return &Log{w: w} }

// Printf writes one line: a short tag, then the message.
func (l *Log) Printf(tag, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%-10s %s\n", tag, fmt.Sprintf(format, args...))
}

// Write writes p as is, for output longer than a line.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
