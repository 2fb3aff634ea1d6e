package pginbox_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
)

// proxy forwards TCP connections to PostgreSQL until it is taken down,
// which cuts every open connection and refuses new ones, as an outage would.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, s) {
			continue
		}
		p.wg.Go(func() { p.pipe(c, s) })
		p.wg.Go(func() { p.pipe(s, c) })
	}
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *proxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}

// TestStoreOutage cuts the listener off from PostgreSQL: deliveries get
// 503, so the sender keeps them, and once the database is back every
// delivery is stored and handled exactly once.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	x := newTxEnv(t)
	cfg, err := pgxpool.ParseConfig(os.Getenv("GEMINIHOOKS_TEST_POSTGRES"))
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, _ := net.SplitHostPort(px.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	cfg.ConnConfig.ConnectTimeout = time.Second
	// The workers' transactions, the shared-statement runners and LISTEN,
	// with room to spare: a starved pool under a loaded run made handlers
	// time out, and each timeout doubled the retry delay past the test's wait.
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// Claims whose outcome the listener could not record during the outage
	// stay leased for the handler timeout plus 30 seconds; the inbox clock
	// jumps past that when the database comes back, rather than the test
	// waiting for it.
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ib, err := pginbox.New(pool, &pginbox.Config{Table: x.schema + ".inbox", Channel: x.schema, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ib.Close() })

	snd, verifier := newSender(t)
	l, err := listener.New(verifier, &listener.Config{Inbox: ib, Workers: 4,
		PollInterval: 50 * time.Millisecond, MaxAttempts: 1000, Backoff: doublingFrom(time.Millisecond),
		StoreTimeout: time.Second, HandlerTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l.On(event.TypeBatchSucceeded, ib.Transactional(x.count))
	runListener(t, l)
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)

	deliveries := make([]delivery, 60)
	for k := range deliveries {
		deliveries[k] = newDelivery(t, fmt.Sprintf("wh_%02d", k), k)
	}
	// deliver sends until a 2xx.
	deliver := func(ds []delivery) {
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() {
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
					code, err := snd.send(srv.URL, d)
					if err == nil && (code == http.StatusAccepted || code == http.StatusOK) {
						return
					}
					time.Sleep(10 * time.Millisecond) // the sender's backoff
				}
				t.Errorf("%s: no 2xx within 30s", d.id)
			})
		}
		wg.Wait()
	}

	deliver(deliveries[:20])

	px.setDown(true)
	for _, d := range deliveries[20:40] {
		code, err := snd.send(srv.URL, d)
		if err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("%s during the outage: %d, %v; want 503", d.id, code, err)
		}
	}
	if s := l.Stats(); s.StoreFailed < 20 {
		t.Errorf("StoreFailed = %d during the outage; want at least 20", s.StoreFailed)
	}

	px.setDown(false)
	skew.Store(int64(2 * time.Minute))
	deliver(deliveries[20:])

	waitFor(t, 30*time.Second, "a handler commit for every delivery", func() (bool, error) {
		var n int
		err := x.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+x.counts).Scan(&n)
		return n == len(deliveries), err
	})
	var twice int
	if err := x.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+x.counts+" WHERE n <> 1").Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if twice != 0 {
		t.Errorf("%d webhook-ids handled more than once", twice)
	}
	for _, d := range deliveries {
		m, err := x.ib.Get(t.Context(), d.id)
		if err != nil || m.State != "done" {
			t.Errorf("%s: %+v, %v; want done", d.id, m, err)
		}
	}
}
