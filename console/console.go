package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
)

//go:embed assets
var assets embed.FS

// cookieName carries the token once a browser has presented it.
const cookieName = "geminihooks_console"

// Defaults for the options.
const (
	DefaultRecent   = 1000
	DefaultPageSize = 50
)

// Console is the web console. It is an http.Handler and a
// listener.Observer: pass it to listener.WithObserver so it sees requests
// as they are answered. It is safe for concurrent use.
type Console struct {
	ib     inbox.Admin
	token  string
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	page   int
	mux    *http.ServeMux
	tmpl   *template.Template

	recent *recent

	done      chan struct{} // closed by Close: live streams end
	closeOnce sync.Once
}

var _ listener.Observer = (*Console)(nil)

// Option configures New.
type Option func(*config) error

type config struct {
	token  string
	recent int
	page   int
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
}

// WithToken sets the access token; by default New makes a random one (see
// Token). It must be at least 16 characters, each a letter, a digit or one
// of - . _ ~, so that it travels unchanged in a URL and a cookie.
func WithToken(token string) Option {
	return func(c *config) error {
		if len(token) < 16 {
			return errors.New("console: token shorter than 16 characters")
		}
		for _, r := range token {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~') {
				return errors.New("console: token has a character other than letters, digits and - . _ ~")
			}
		}
		c.token = token
		return nil
	}
}

// WithRecent sets how many answered requests the live list keeps in memory
// (default 1000), with their headers and bodies: these are also the bodies
// a handled event is replayed with, since the inbox keeps none for it.
func WithRecent(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("console: WithRecent(%d): must be positive", n)
		}
		c.recent = n
		return nil
	}
}

// WithPageSize sets how many stored events a page lists (default 50).
func WithPageSize(n int) Option {
	return func(c *config) error {
		if n < 1 || n > inbox.MaxPage {
			return fmt.Errorf("console: WithPageSize(%d): must be 1 to %d", n, inbox.MaxPage)
		}
		c.page = n
		return nil
	}
}

// WithHTTPClient sets the client re-deliveries are sent with (default: a
// client with a 10-second timeout).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("console: nil HTTP client")
		}
		c.client = hc
		return nil
	}
}

// WithLogger sets where actions are logged; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("console: nil logger")
		}
		c.log = l
		return nil
	}
}

// WithClock sets the clock shown times are read from (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("console: nil clock")
		}
		c.now = now
		return nil
	}
}

// New returns a console over ib.
func New(ib inbox.Admin, opts ...Option) (*Console, error) {
	if ib == nil {
		return nil, errors.New("console: nil inbox")
	}
	cfg := config{
		recent: DefaultRecent,
		page:   DefaultPageSize,
		client: &http.Client{Timeout: 10 * time.Second},
		log:    slog.New(slog.DiscardHandler),
		now:    time.Now,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.token == "" {
		b := make([]byte, 24)
		rand.Read(b)
		cfg.token = base64.RawURLEncoding.EncodeToString(b)
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	c := &Console{
		ib:     ib,
		token:  cfg.token,
		client: cfg.client,
		log:    cfg.log,
		now:    cfg.now,
		page:   cfg.page,
		tmpl:   tmpl,
		recent: newRecent(cfg.recent),
		done:   make(chan struct{}),
	}
	static, _ := fs.Sub(assets, "assets")
	actions := http.NewCrossOriginProtection()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.index)
	mux.HandleFunc("GET /delivery", c.detail)
	mux.HandleFunc("GET /events", c.events)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.Handle("POST /replay", actions.Handler(http.HandlerFunc(c.replay)))
	mux.Handle("POST /redeliver", actions.Handler(http.HandlerFunc(c.redeliver)))
	c.mux = mux
	return c, nil
}

// Close ends every live stream (the Server-Sent Events of open pages), which
// would otherwise keep http.Server.Shutdown waiting for as long as a page
// stays open: Shutdown does not cancel requests in flight. Register it with
// the server that serves the console:
//
//	srv.RegisterOnShutdown(c.Close)
//
// Pages keep working after Close; only their live updates stop.
func (c *Console) Close() { c.closeOnce.Do(func() { close(c.done) }) }

// Token returns the access token: open the console at ?token=TOKEN once,
// or send it as "Authorization: Bearer TOKEN".
func (c *Console) Token() string { return c.token }

// ServeHTTP implements http.Handler. Every request needs the token: in the
// query (once; it is then kept in a SameSite=Strict, HttpOnly cookie and
// dropped from the address bar), in the cookie, or as a bearer token.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if t := r.URL.Query().Get("token"); t != "" && r.Method == http.MethodGet {
		if !c.validToken(t) {
			c.refuse(w)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: t, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		q := r.URL.Query()
		q.Del("token")
		target := "./"
		if r.URL.Path != "/" && r.URL.Path != "" {
			target = "." + r.URL.Path[bytes.LastIndexByte([]byte(r.URL.Path), '/'):]
		}
		if len(q) > 0 {
			target += "?" + q.Encode()
		}
		seeOther(w, target)
		return
	}
	if !c.authorized(r) {
		c.refuse(w)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// seeOther redirects to a URL relative to the one requested. Unlike
// http.Redirect it does not resolve it against r.URL.Path, which under
// http.StripPrefix lacks the prefix the console is mounted at.
func seeOther(w http.ResponseWriter, relative string) {
	w.Header().Set("Location", relative)
	w.WriteHeader(http.StatusSeeOther)
}

func (c *Console) validToken(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(c.token)) == 1
}

func (c *Console) authorized(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); len(a) > 7 && a[:7] == "Bearer " {
		return c.validToken(a[7:])
	}
	if k, err := r.Cookie(cookieName); err == nil {
		return c.validToken(k.Value)
	}
	return false
}

func (c *Console) refuse(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintln(w, "geminihooks console: open the address printed at start, with its ?token=")
}

// Delivered implements listener.Observer.
func (c *Console) Delivered(d listener.Delivery) { c.recent.add(&d) }

// Ran implements listener.Observer.
func (c *Console) Ran(r listener.Run) { c.recent.ran(&r) }

// bounded is the context of one inbox call made for a page.
func bounded(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 5*time.Second)
}

// recentBody returns the body a stored delivery arrived with, if the live
// list still holds it.
func (c *Console) recentBody(id string) []byte {
	e, ok := c.recent.byWebhookID(id)
	if !ok {
		return nil
	}
	return e.Body
}

var errNoBody = errors.New("console: the inbox keeps no body for a handled event, and this console did not see it arrive")
