package main

import (
	"bufio"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a long-running binary (listen, emulator) whose output lines the
// test waits on instead of sleeping.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *lines
	stderr *lines
	done   chan struct{}
	err    error
}

// lines collects a stream's lines and lets a test wait for one.
type lines struct {
	mu      sync.Mutex
	all     []string
	changed chan struct{}
	closed  bool
}

func newLines(r io.Reader) *lines {
	l := &lines{changed: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.closed = true
		close(l.changed)
		l.mu.Unlock()
	}()
	return l
}

// wait returns the submatches of the first line from index from on that
// matches re, and the index after it, or fails the test at the deadline.
func (l *lines) wait(t *testing.T, re *regexp.Regexp, from int, timeout time.Duration) ([]string, int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for i := from; i < len(l.all); i++ {
			if m := re.FindStringSubmatch(l.all[i]); m != nil {
				l.mu.Unlock()
				return m, i + 1
			}
		}
		closed, ch := l.closed, l.changed
		l.mu.Unlock()
		if closed {
			t.Fatalf("stream ended without a line matching %q:\n%s", re, l.String())
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no line matching %q within %s:\n%s", re, timeout, l.String())
		}
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// startBin starts the binary in the background; the test's cleanup stops it.
func startBin(t *testing.T, envv []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(cleanEnv(), envv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, stdout: newLines(stdout), stderr: newLines(stderr), done: make(chan struct{})}
	go func() {
		// Wait for both streams to drain before Wait closes the pipes.
		p.stdout.waitClosed()
		p.stderr.waitClosed()
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (l *lines) waitClosed() {
	for {
		l.mu.Lock()
		closed, ch := l.closed, l.changed
		l.mu.Unlock()
		if closed {
			return
		}
		<-ch
	}
}

// stop interrupts the process as Ctrl-C would and returns its exit code.
func (p *proc) stop(timeout time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatalf("interrupt: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("process did not stop within %s after SIGINT\nstdout:\n%s\nstderr:\n%s", timeout, p.stdout, p.stderr)
	}
	if p.err != nil {
		if ee, ok := p.err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		p.t.Fatalf("wait: %v", p.err)
	}
	return 0
}
