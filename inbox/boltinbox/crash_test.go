package boltinbox_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
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
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// helperEnv makes the test binary run crashHelper instead of the tests:
// the crash test re-executes itself as the listener process it kills.
const helperEnv = "GEMINIHOOKS_BOLTINBOX_CRASH_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		crashHelper()
		return
	}
	os.Exit(m.Run())
}

// Settings the crash test hands its helper.
const (
	envDB      = "CRASH_DB"
	envLog     = "CRASH_LOG"
	envSecret  = "CRASH_SECRET"
	envSkew    = "CRASH_CLOCK_SKEW"
	envWorkers = "CRASH_WORKERS"
)

// crashHelper is a listener process with a bbolt inbox. It prints its
// address, appends each handled webhook-id to the log, and runs until it is
// killed or, on SIGTERM, drains and exits.
func crashHelper() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(2)
	}
	skew, err := time.ParseDuration(os.Getenv(envSkew))
	if err != nil {
		fail(err)
	}
	workers, err := strconv.Atoi(os.Getenv(envWorkers))
	if err != nil {
		fail(err)
	}
	// Each incarnation's clock runs ahead of the last by more than a lease,
	// so claims a killed process held come back at once instead of after
	// 31 real seconds. Claims released at open are TestClaimsReleasedAtOpen's.
	clock := func() time.Time { return time.Now().Add(skew) }
	ib, err := boltinbox.Open(os.Getenv(envDB), &boltinbox.Config{Now: clock, LockTimeout: 10 * time.Second})
	if err != nil {
		fail(err)
	}
	logFile, err := os.OpenFile(os.Getenv(envLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fail(err)
	}
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{os.Getenv(envSecret)}})
	if err != nil {
		fail(err)
	}
	l, err := listener.New(v, &listener.Config{Inbox: ib, Now: clock, Workers: workers,
		HandlerTimeout: time.Second, PollInterval: 20 * time.Millisecond, GracePeriod: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		// One write(2) per line: appends from one process never interleave,
		// and a SIGKILL cannot lose what the kernel already has.
		_, err := logFile.WriteString(e.ID + "\n")
		return err
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: l}
	go srv.Serve(ln)
	fmt.Printf("ADDR %s\n", ln.Addr())
	if err := l.Run(ctx); err != nil {
		fail(err)
	}
	srv.Close()
	if err := ib.Close(); err != nil {
		fail(err)
	}
}

// child is one incarnation of the helper.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
}

func startChild(t *testing.T, env []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not start: %q, %v\n%s", line, err, stderr.String())
	}
	return &child{cmd: cmd, addr: "http://" + addr, stderr: &stderr}
}

// TestCrash kills a listener process with SIGKILL three times while a
// retrying sender delivers, and checks that every delivery that got a 2xx
// was handled: nothing acknowledged is lost across kills.
func TestCrash(t *testing.T) {
	t.Parallel()
	const (
		events  = 200
		kills   = 3
		workers = 4
	)
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	logPath := filepath.Join(dir, "handled.log")
	env := func(incarnation int) []string {
		return []string{
			helperEnv + "=1",
			envDB + "=" + filepath.Join(dir, "inbox.db"),
			envLog + "=" + logPath,
			envSecret + "=" + secret,
			envSkew + "=" + (time.Duration(incarnation) * time.Minute).String(),
			envWorkers + "=" + strconv.Itoa(workers),
		}
	}

	var (
		mu    sync.Mutex
		cur   = startChild(t, env(0))
		acked atomic.Int64
		kick  = make(chan struct{}, 1) // a delivery was acked
	)
	current := func() string {
		mu.Lock()
		defer mu.Unlock()
		return cur.addr
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		cur.cmd.Process.Kill()
		cur.cmd.Wait()
	})

	client := &http.Client{Timeout: 5 * time.Second}
	send := func(id string, body []byte) bool {
		ts := time.Now()
		req, err := http.NewRequest(http.MethodPost, current(), bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return true
		}
		if err := (signing.Signer{Secrets: []string{secret}}).Sign(req.Header, id, ts, body); err != nil {
			t.Error(err)
			return true
		}
		resp, err := client.Do(req)
		if err != nil {
			return false // killed mid-request, or not up yet: retry
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK
	}

	ids := make(chan string)
	go func() {
		defer close(ids)
		for k := range events {
			ids <- fmt.Sprintf("wh_%03d", k)
		}
	}()
	var senders sync.WaitGroup
	for range 8 {
		senders.Go(func() {
			for id := range ids {
				body, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/" + id}, time.Now(), nil)
				if err != nil {
					t.Error(err)
					return
				}
				// Like Gemini: keep delivering until a 2xx, backing off a little.
				for !send(id, body) {
					time.Sleep(5 * time.Millisecond)
				}
				acked.Add(1)
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		})
	}

	// Kill after a quarter, a half and three quarters of the events are acked.
	for k := 1; k <= kills; k++ {
		for acked.Load() < int64(k*events/(kills+1)) {
			<-kick
		}
		mu.Lock()
		old := cur
		mu.Unlock()
		if err := old.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		old.cmd.Wait()
		next := startChild(t, env(k))
		mu.Lock()
		cur = next
		mu.Unlock()
		t.Logf("kill %d after %d acked", k, acked.Load())
	}
	senders.Wait()

	// Every acked event must be handled by the last incarnation or before.
	runs := map[string]int{}
	readLog := func() {
		data, err := os.ReadFile(logPath)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		clear(runs)
		for _, id := range strings.Fields(string(data)) {
			runs[id]++
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		readLog()
		if len(runs) == events {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("%d of %d acked events handled after 30s\nhelper stderr:\n%s", len(runs), events, cur.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Stop the last incarnation cleanly, then read the inbox it leaves.
	mu.Lock()
	last := cur
	mu.Unlock()
	last.cmd.Process.Signal(syscall.SIGTERM)
	if err := last.cmd.Wait(); err != nil {
		t.Fatalf("helper exit: %v\n%s", err, last.stderr.String())
	}
	readLog()
	reruns := 0
	for id, n := range runs {
		if n > 1 {
			reruns += n - 1
			t.Logf("%s handled %d times", id, n)
		}
	}
	t.Logf("%d events, %d kills: %d handler re-runs for events in flight at a kill", events, kills, reruns)
	// Only a claim in flight at a kill runs again: at most two per worker,
	// the event it was running and the one whose ack was still on its way
	// (a worker acks in the background while it runs the next).
	if reruns > 2*kills*workers {
		t.Errorf("%d re-runs; want at most %d (2 x workers x kills)", reruns, 2*kills*workers)
	}
	ib, err := boltinbox.Open(filepath.Join(dir, "inbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	for k := range events {
		id := fmt.Sprintf("wh_%03d", k)
		m, err := ib.Get(t.Context(), id)
		if err != nil || m.State != inbox.StateDone {
			t.Errorf("%s after the run: %+v, %v; want done", id, m, err)
		}
	}
}
