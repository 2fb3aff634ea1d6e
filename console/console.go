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

// Defaults of the Config fields.
const (
	defaultRecent    = 1000
	defaultPageSize  = 50
	redeliverTimeout = 10 * time.Second
)

// Console is the web console, an http.Handler; Observer gives what the
// listener reports to. It is safe for concurrent use.
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

	mu        sync.Mutex
	shutdowns map[*http.Server]chan struct{} // closed when that server shuts down
}

// Config configures New. A nil *Config means every default.
type Config struct {
	// Token is the access token. It must be at least 16 characters, each
	// a letter, a digit or one of - . _ ~, so that it travels unchanged in
	// a URL and a cookie. Default: a random one, which Token returns.
	Token string
	// Recent is how many answered requests the live list keeps in memory,
	// with their headers and bodies: these are also the bodies a handled
	// event is replayed with, since the inbox keeps none for it. Default:
	// 1000.
	Recent int
	// PageSize is how many stored events a page lists, at most
	// inbox.MaxPage. Default: 50.
	PageSize int
	// HTTPClient sends re-deliveries. Default: a client with a 10-second
	// timeout.
	HTTPClient *http.Client
	// Logger is where actions are logged. Default: nil, discard.
	Logger *slog.Logger
	// Now is the clock shown times are read from. Default: nil, time.Now.
	Now func() time.Time
}

// New returns a console over ib. The console copies cfg, which may be nil.
func New(ib inbox.Admin, cfg *Config) (*Console, error) {
	if ib == nil {
		return nil, errors.New("console: nil inbox")
	}
	var c0 Config
	if cfg != nil {
		c0 = *cfg
	}
	if c0.Token != "" {
		if len(c0.Token) < 16 {
			return nil, errors.New("console: Config.Token is shorter than 16 characters")
		}
		for _, r := range c0.Token {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~') {
				return nil, errors.New("console: Config.Token has a character other than letters, digits and - . _ ~")
			}
		}
	} else {
		b := make([]byte, 24)
		rand.Read(b)
		c0.Token = base64.RawURLEncoding.EncodeToString(b)
	}
	switch {
	case c0.Recent < 0:
		return nil, fmt.Errorf("console: Config.Recent is %d, need at least 1", c0.Recent)
	case c0.Recent == 0:
		c0.Recent = defaultRecent
	}
	switch {
	case c0.PageSize < 0 || c0.PageSize > inbox.MaxPage:
		return nil, fmt.Errorf("console: Config.PageSize is %d, need 1 to %d", c0.PageSize, inbox.MaxPage)
	case c0.PageSize == 0:
		c0.PageSize = defaultPageSize
	}
	if c0.HTTPClient == nil {
		c0.HTTPClient = &http.Client{Timeout: redeliverTimeout}
	}
	if c0.Logger == nil {
		c0.Logger = slog.New(slog.DiscardHandler)
	}
	if c0.Now == nil {
		c0.Now = time.Now
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	c := &Console{
		ib:        ib,
		token:     c0.Token,
		client:    c0.HTTPClient,
		log:       c0.Logger,
		now:       c0.Now,
		page:      c0.PageSize,
		tmpl:      tmpl,
		recent:    newRecent(c0.Recent),
		shutdowns: map[*http.Server]chan struct{}{},
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

// shutdownOf returns a channel closed when the http.Server serving r shuts
// down, or nil when r did not come through one. Shutdown does not cancel
// requests in flight, so without this an open page's live stream would
// hold it up for as long as the page stays open: the console registers
// with each server that serves it (RegisterOnShutdown), once, and its
// streams end when that server shuts down. Pages keep working; only their
// live updates stop.
func (c *Console) shutdownOf(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.shutdowns[srv]
	if !ok {
		ch = make(chan struct{})
		c.shutdowns[srv] = ch
		srv.RegisterOnShutdown(func() {
			c.mu.Lock()
			delete(c.shutdowns, srv)
			c.mu.Unlock()
			close(ch)
		})
	}
	return ch
}

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

// Observer returns the listener.Observer that feeds the live list: give it
// to the listener (listener.WithObserver), beside the metrics' if there are
// any (listener.Observers).
func (c *Console) Observer() listener.Observer { return (*observer)(c) }

// observer is Console seen as a listener.Observer.
type observer Console

// Delivered implements listener.Observer.
func (o *observer) Delivered(d listener.Delivery) { o.recent.add(&d) }

// Ran implements listener.Observer.
func (o *observer) Ran(r listener.Run) { o.recent.ran(&r) }

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
