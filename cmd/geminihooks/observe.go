package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/console"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/metrics"
	"github.com/geminihooks/geminihooks/signing"
)

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// observe is what listen adds beside the receiver: /metrics, /healthz and
// /readyz on its own address, and the web console on --console's.
type observe struct {
	consoleAddr  string
	consoleToken string
	noMetrics    bool

	metrics *metrics.Metrics
	console *console.Console
	// The observers of each, nil when it is off.
	metricsObs, consoleObs listener.Observer
	srv                    *http.Server
	ln                     net.Listener
	ib                     inbox.Store
	keys                   signing.KeySet
}

func (o *observe) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.consoleAddr, "console", "", "serve the web console at `ADDR`; a bare port or :PORT binds 127.0.0.1")
	fs.StringVar(&o.consoleToken, "console-token", "", "the console's access `token` (default $GEMINIHOOKS_CONSOLE_TOKEN, else a random one printed at start)")
	fs.BoolVar(&o.noMetrics, "no-metrics", false, "serve no /metrics")
}

// init makes the metrics before the key set, whose fetches they count.
func (o *observe) init() error {
	if o.noMetrics {
		return nil
	}
	m, err := metrics.New(&metrics.Config{ProcessCollectors: true})
	if err != nil {
		return err
	}
	o.metrics, o.metricsObs = m, m.Observer()
	return nil
}

// keySetConfig counts JWKS fetches when metrics are on.
func (o *observe) keySetConfig() *signing.KeySetConfig {
	if o.metrics == nil {
		return nil
	}
	return &signing.KeySetConfig{HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: o.metrics.JWKSTransport(nil)}}
}

// consoleListenAddr binds a bare port or :PORT to loopback: the console
// shows every delivery, so reaching it from elsewhere must be asked for.
func consoleListenAddr(addr string) string {
	if !strings.Contains(addr, ":") {
		return "127.0.0.1:" + addr
	}
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// Delivered implements listener.Observer, for the metrics and the console.
func (o *observe) Delivered(d listener.Delivery) {
	if o.metricsObs != nil {
		o.metricsObs.Delivered(d)
	}
	if o.consoleObs != nil {
		o.consoleObs.Delivered(d)
	}
}

// Ran implements listener.Observer.
func (o *observe) Ran(r listener.Run) {
	if o.metricsObs != nil {
		o.metricsObs.Ran(r)
	}
	if o.consoleObs != nil {
		o.consoleObs.Ran(r)
	}
}

// start counts the inbox for the metrics and opens the console's port,
// when asked for.
func (o *observe) start(e *env, ib inbox.Store, keys signing.KeySet, logger *slog.Logger) error {
	o.ib, o.keys = ib, keys
	if o.metrics != nil {
		if err := o.metrics.WatchInbox(ib); err != nil {
			return err
		}
	}
	if o.consoleAddr != "" {
		token := o.consoleToken
		if token == "" {
			token = e.getenv("GEMINIHOOKS_CONSOLE_TOKEN")
		}
		c, err := console.New(ib, &console.Config{Token: token, Logger: logger})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", consoleListenAddr(o.consoleAddr))
		if err != nil {
			return fmt.Errorf("--console: %w", err)
		}
		o.console, o.consoleObs, o.ln = c, c.Observer(), ln
		o.srv = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	}
	return nil
}

// serve starts the console server and prints its address; the token is
// printed this once, when it was not configured.
func (o *observe) serve(e *env) {
	if o.srv == nil {
		return
	}
	go o.srv.Serve(o.ln)
	if o.consoleToken == "" && e.getenv("GEMINIHOOKS_CONSOLE_TOKEN") == "" {
		u := fmt.Sprintf("http://%s/?token=%s", o.ln.Addr(), o.console.Token())
		e.status("  console:   "+u, "console", u)
	} else {
		u := fmt.Sprintf("http://%s/", o.ln.Addr())
		e.status("  console:   "+u+" (with the configured token)", "console", u)
	}
}

// mount adds /metrics, /healthz and /readyz.
func (o *observe) mount(mux *http.ServeMux) {
	if o.metrics != nil {
		mux.Handle("GET /metrics", o.metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", o.ready)
}

// ready answers 200 when the inbox answers and, with dynamic signatures,
// keys are loaded; 503 with what is missing otherwise.
func (o *observe) ready(w http.ResponseWriter, r *http.Request) {
	var problems []string
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if _, err := o.ib.Depth(ctx); err != nil {
		problems = append(problems, "inbox: "+err.Error())
	}
	if o.keys != nil {
		if ks, err := o.keys.Keys(ctx); err != nil {
			problems = append(problems, "keys: "+err.Error())
		} else if len(ks) == 0 {
			problems = append(problems, "keys: the key set is empty")
		}
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, strings.Join(problems, "\n")+"\n")
		return
	}
	io.WriteString(w, "ready\n")
}

// stop closes the console's server at once, open pages and all.
func (o *observe) stop() {
	if o.srv != nil {
		_ = o.srv.Close()
	}
}
