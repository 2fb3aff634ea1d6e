package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
	"github.com/jackc/pgx/v5/pgxpool"
)

// helperEnv makes the test binary run crashHelper instead of the tests: the crash matrix re-executes
// itself as the listener process it kills.
const helperEnv = "FAULTTEST_HELPER"

// Settings the crash matrix hands its helper.
const (
	envStore     = "FT_STORE" // "bbolt" or "postgres"
	envDB        = "FT_DB"    // the bbolt file or the PostgreSQL URL
	envTable     = "FT_TABLE"
	envLog       = "FT_LOG"
	envSecret    = "FT_SECRET"
	envSkew      = "FT_SKEW"
	envFailpoint = "FT_FAILPOINT"
	envKillAt    = "FT_KILL_AT"
)

// Failpoints: where the helper SIGKILLs itself.
const (
	fpBeforeCommit = "before-commit"              // in Put, before the inbox commits: no 2xx was sent
	fpAfterCommit  = "after-commit-before-answer" // in Put, after the commit, before the listener answers
	fpMidHandler   = "mid-handler"                // in the handler, after the 2xx, before it records its work
	fpNone         = ""
)

// die is SIGKILL at a failpoint: no deferred call, no flush, no drain.
func die() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// failInbox wraps the helper's inbox to die at a failpoint on its at-th hit.
type failInbox struct {
	inbox.Inbox
	point string
	at    int64
	hits  atomic.Int64
}

func (f *failInbox) hit(point string) {
	if f.point == point && f.hits.Add(1) == f.at {
		die()
	}
}

func (f *failInbox) Put(ctx context.Context, m *inbox.Message) (bool, error) {
	f.hit(fpBeforeCommit)
	stored, err := f.Inbox.Put(ctx, m)
	if err == nil {
		f.hit(fpAfterCommit)
	}
	return stored, err
}

// crashHelper is one listener process: it prints its address, appends each handled webhook-id to the
// log with one write(2), and runs until it is killed.
func crashHelper() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(2)
	}
	skew, err := time.ParseDuration(os.Getenv(envSkew))
	if err != nil {
		fail(err)
	}
	killAt, err := strconv.ParseInt(os.Getenv(envKillAt), 10, 64)
	if err != nil {
		fail(err)
	}
	// Each incarnation's clock runs ahead of the last by more than a lease, so the claims a killed
	// process held come back at once instead of after 31 real seconds.
	clock := func() time.Time { return time.Now().Add(skew) }
	ctx := context.Background()
	var ib inbox.Inbox
	switch os.Getenv(envStore) {
	case "bbolt":
		b, err := boltinbox.Open(os.Getenv(envDB), &boltinbox.Config{Now: clock, LockTimeout: 10 * time.Second})
		if err != nil {
			fail(err)
		}
		ib = b
	case "postgres":
		pool, err := newPool(ctx, os.Getenv(envDB))
		if err != nil {
			fail(err)
		}
		p, err := pginbox.New(pool, &pginbox.Config{Table: os.Getenv(envTable), Now: clock})
		if err != nil {
			fail(err)
		}
		if err := p.Migrate(ctx); err != nil {
			fail(err)
		}
		ib = p
	default:
		fail(fmt.Errorf("unknown store %q", os.Getenv(envStore)))
	}
	point := os.Getenv(envFailpoint)
	fi := &failInbox{Inbox: ib, point: point, at: killAt}
	logFile, err := os.OpenFile(os.Getenv(envLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fail(err)
	}
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{os.Getenv(envSecret)}})
	if err != nil {
		fail(err)
	}
	l, err := listener.New(v, &listener.Config{Inbox: fi, Now: clock, Workers: 4,
		HandlerTimeout: time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		fail(err)
	}
	var handled atomic.Int64
	l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		if point == fpMidHandler && handled.Add(1) == killAt {
			die()
		}
		_, err := logFile.WriteString(e.ID + "\n")
		return err
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("ADDR %s\n", ln.Addr())
	runCtx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	if err := l.Run(runCtx); err != nil {
		fail(err)
	}
}

// child is one incarnation of the helper.
type child struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	exited chan error
}

func startChild(env []string) (*child, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("helper did not start: %q, %v: %s", line, err, stderr.String())
	}
	c := &child{cmd: cmd, url: "http://" + addr, stderr: &stderr, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()
	return c, nil
}

func killedBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// readProcessed reads the helpers' shared log of handled webhook-ids.
func readProcessed(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	m := map[string]int{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if line != "" {
			m[line]++
		}
	}
	return m, nil
}

// TestCrashMatrix SIGKILLs a listener subprocess at each failpoint, kills times per cell, with a bbolt
// and a PostgreSQL inbox, while a Gemini-like sender retries every delivery until it gets a 2xx.
// Nothing acknowledged may be lost; a crash after the commit may make a handler run twice.
func TestCrashMatrix(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"bbolt", "postgres"} {
		for _, fp := range []string{fpBeforeCommit, fpAfterCommit, fpMidHandler} {
			t.Run(store+"/"+fp, func(t *testing.T) {
				t.Parallel()
				events, kills := size(40, 1000), size(2, 5)
				runCrashCell(t, store, fp, events, kills)
			})
		}
	}
}

func runCrashCell(t *testing.T, store, fp string, events, kills int) {
	dir := t.TempDir()
	secret := newSecret(t)
	logPath := filepath.Join(dir, "processed.log")
	base := []string{helperEnv + "=crash", envStore + "=" + store, envLog + "=" + logPath, envSecret + "=" + secret}
	switch store {
	case "bbolt":
		base = append(base, envDB+"="+filepath.Join(dir, "inbox.db"))
	case "postgres":
		url := postgresURL(t)
		table := tableName(t)
		base = append(base, envDB+"="+url, envTable+"="+table)
		t.Cleanup(func() {
			pool, err := pgxpool.New(context.Background(), url)
			if err == nil {
				pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table)
				pool.Close()
			}
		})
	}
	// Each failing incarnation dies at the at-th hit of its failpoint; the last one has none.
	at := max(events/(2*(kills+1)), 1)
	env := func(gen int) []string {
		point := fp
		if gen >= kills {
			point = fpNone
		}
		return append(base, envFailpoint+"="+point, envKillAt+"="+strconv.Itoa(at),
			envSkew+"="+(time.Duration(gen)*2*time.Minute).String())
	}

	first, err := startChild(env(0))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		cur     = first
		gen     int
		changed = make(chan struct{}) // closed and replaced when a new incarnation starts
		died    int
	)
	current := func() (string, <-chan struct{}) {
		mu.Lock()
		defer mu.Unlock()
		return cur.url, changed
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(size(40, 300))*time.Second)
	defer cancel()
	supervisorDone := make(chan error, 1)
	go func() {
		for {
			mu.Lock()
			c := cur
			mu.Unlock()
			select {
			case <-ctx.Done():
				supervisorDone <- nil
				return
			case err := <-c.exited:
				if !killedBySIGKILL(err) {
					supervisorDone <- fmt.Errorf("incarnation %d exited without a SIGKILL: %v: %s", gen, err, c.stderr.String())
					return
				}
				next, err := startChild(env(gen + 1))
				if err != nil {
					supervisorDone <- err
					return
				}
				mu.Lock()
				gen++
				died++
				cur = next
				close(changed)
				changed = make(chan struct{})
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-supervisorDone
		mu.Lock()
		defer mu.Unlock()
		cur.cmd.Process.Kill()
		<-cur.exited
	})

	l := newLedger()
	ds := deliveries(t, "crash", events, time.Now())
	client := &http.Client{Timeout: 5 * time.Second}
	sign := hmacSigner(secret)
	work := make(chan delivery)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for d := range work {
				l.send(d.id)
				backoff := 5 * time.Millisecond
				for ctx.Err() == nil {
					url, changed := current()
					code, err := post(ctx, client, url, d, sign, time.Now())
					if err == nil && ok2xx(code) {
						l.ack(d.id)
						break
					}
					// Gemini-like retry: back off, but try the new process at once when one starts.
					timer := time.NewTimer(backoff)
					select {
					case <-changed:
					case <-timer.C:
					case <-ctx.Done():
					}
					timer.Stop()
					backoff = min(2*backoff, 100*time.Millisecond)
				}
			}
		})
	}
	for _, d := range ds {
		work <- d
	}
	close(work)
	wg.Wait()

	var processed map[string]int
	waitFor(t, time.Duration(size(30, 240))*time.Second, "every acknowledged delivery to be processed", func() bool {
		select {
		case err := <-supervisorDone:
			if err != nil {
				t.Fatal(err)
			}
			supervisorDone <- nil
		default:
		}
		p, err := readProcessed(logPath)
		if err != nil {
			t.Fatal(err)
		}
		processed = p
		for _, d := range ds {
			if l.isAcked(d.id) && p[d.id] == 0 {
				return false
			}
		}
		return true
	})
	for id, n := range processed {
		for range n {
			l.process(id)
		}
	}
	mu.Lock()
	k := died
	mu.Unlock()
	t.Logf("crash/%s/%s: %d SIGKILLs", store, fp, k)
	if k == 0 {
		t.Errorf("the listener was never killed at %s: the cell tested nothing", fp)
	}
	l.finish(t, "crash/"+store+"/"+fp)
}
