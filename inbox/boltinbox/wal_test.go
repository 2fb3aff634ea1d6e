package boltinbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/geminihooks/geminihooks/inbox"
)

// holdWriter keeps the writer in a commit of its own until the returned
// function is called (or the test ends, so that a failed test still
// closes its inbox), so that logged Puts stay unapplied: what the files
// hold then is what a crash would leave.
func holdWriter(t *testing.T, ib *store) (release func()) {
	t.Helper()
	hold, held := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ib.do(context.Background(), func(*wtx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(hold)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// crashImage copies the inbox file and its log, as they are now, to a new
// directory: the state a power cut would leave, since both are synced.
func crashImage(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "inbox.db")
	for _, suffix := range []string{"", walSuffix} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func openSized(t *testing.T, path string, walSize int64) *store {
	t.Helper()
	db, err := open(path, nil, walSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Store.(*store)
}

// heldLog opens a fresh inbox with a log of walSize, holds its writer (see
// holdWriter) and Puts messages 0 to n-1, so that they are logged and not
// yet applied.
func heldLog(t *testing.T, walSize int64, n int) (path string, ib *store, release func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "inbox.db")
	ib = openSized(t, path, walSize)
	release = holdWriter(t, ib)
	putN(t, ib, 0, n)
	return path, ib, release
}

func putN(t *testing.T, ib *store, from, to int) {
	t.Helper()
	for k := from; k < to; k++ {
		m := &inbox.Message{ID: fmt.Sprintf("wh_%03d", k), JobKey: fmt.Sprintf("job_%03d", k), Body: []byte(fmt.Sprintf(`{"n":%d}`, k))}
		if ok, err := ib.Put(context.Background(), m); !ok || err != nil {
			t.Fatalf("Put %s = %v, %v", m.ID, ok, err)
		}
	}
}

// claimAll claims everything claimable, checks each body, and returns the
// IDs in order.
func claimAll(t *testing.T, ib *store) []string {
	t.Helper()
	ms, err := ib.Claim(context.Background(), 1000, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		var k int
		fmt.Sscanf(m.ID, "wh_%d", &k)
		if want := fmt.Sprintf(`{"n":%d}`, k); string(m.Body) != want {
			t.Errorf("%s has body %s; want %s", m.ID, m.Body, want)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

func ids(from, to int) []string {
	var s []string
	for k := from; k < to; k++ {
		s = append(s, fmt.Sprintf("wh_%03d", k))
	}
	return s
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s: got %d messages %v; want %d %v", what, len(got), got, len(want), want)
	}
}

// A Put returns once its message is in the synced log, before the bbolt
// file has it. A crash then loses nothing: Open replays the log.
func TestLogReplayAfterCrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	ib := openSized(t, path, defaultWALSize)
	putN(t, ib, 0, 5) // applied: a crash image holds them in the file
	if err := ib.settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, ib)
	putN(t, ib, 5, 12)
	// Duplicates of logged, unapplied Puts are found, by ID and by JobKey.
	if ok, err := ib.Put(t.Context(), &inbox.Message{ID: "wh_007"}); ok || err != nil {
		t.Errorf("Put of a logged ID = %v, %v; want a duplicate", ok, err)
	}
	if ok, err := ib.Put(t.Context(), &inbox.Message{ID: "other", JobKey: "job_008"}); ok || err != nil {
		t.Errorf("Put of a logged JobKey = %v, %v; want a duplicate", ok, err)
	}
	if d, _ := ib.Depth(t.Context()); d != 12 {
		t.Errorf("Depth with 7 Puts unapplied = %d; want 12", d)
	}
	if m, err := ib.Get(t.Context(), "wh_009"); err != nil || m.State != inbox.StatePending || string(m.Body) != `{"n":9}` {
		t.Errorf("Get of an unapplied Put = %+v, %v", m, err)
	}
	image := crashImage(t, path)
	release()

	re := openSized(t, image, defaultWALSize)
	if d, _ := re.Depth(t.Context()); d != 12 {
		t.Errorf("Depth after the crash = %d; want 12", d)
	}
	ms, err := re.Claim(t.Context(), 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.ID)
		if err := re.Ack(t.Context(), m.ID, m.Lease); err != nil {
			t.Fatal(err)
		}
	}
	sameIDs(t, "claimable after the crash", got, ids(0, 12))
	// Replayed keys dedupe.
	if ok, err := re.Put(t.Context(), &inbox.Message{ID: "x", JobKey: "job_011"}); ok || err != nil {
		t.Errorf("Put of a replayed JobKey = %v, %v; want a duplicate", ok, err)
	}
	// The replayed records are still in the log file. Once handled and
	// pruned, they must not come back at the next Open, nor after a crash.
	if n, err := re.Prune(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 12 {
		t.Fatalf("Prune = %d, %v; want 12", n, err)
	}
	again := openSized(t, crashImage(t, image), defaultWALSize)
	if d, _ := again.Depth(t.Context()); d != 0 {
		t.Errorf("Depth at the next Open = %d; want 0: applied records were replayed again", d)
	}
}

// Each Open starts the log over from its start. Records of the new lap
// must replay after a crash even when one of them begins where the last
// lap's checkpoint pointed (records of one size make that happen).
func TestLogReplayAfterReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	ib := openSized(t, path, defaultWALSize)
	putN(t, ib, 10, 15)
	ib.Close()
	ib = openSized(t, path, defaultWALSize)
	release := holdWriter(t, ib)
	putN(t, ib, 15, 23)
	image := crashImage(t, path)
	release()
	sameIDs(t, "after a crash in the second lap", claimAll(t, openSized(t, image, defaultWALSize)), ids(10, 23))
}

// A crash in the middle of a log write leaves a torn record: Open replays
// the records before it and stops, whatever follows.
func TestLogTornRecord(t *testing.T) {
	t.Parallel()
	path, ib, release := heldLog(t, defaultWALSize, 6)
	var ends []int64
	ib.log.mu.Lock()
	for _, g := range ib.log.written {
		ends = append(ends, g.end)
	}
	ib.log.mu.Unlock()
	if len(ends) != 6 {
		t.Fatalf("%d groups logged; want one per sequential Put", len(ends))
	}
	image := crashImage(t, path)
	release()

	t.Run("cut", func(t *testing.T) {
		img := crashImage(t, image)
		if err := os.Truncate(img+walSuffix, ends[4]-3); err != nil {
			t.Fatal(err)
		}
		sameIDs(t, "after a cut in the fifth record", claimAll(t, openSized(t, img, defaultWALSize)), ids(0, 4))
	})
	t.Run("flipped", func(t *testing.T) {
		img := crashImage(t, image)
		f, err := os.OpenFile(img+walSuffix, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := []byte{0}
		f.ReadAt(b, ends[1]+walRecordHead+2)
		b[0] ^= 0x20
		f.WriteAt(b, ends[1]+walRecordHead+2)
		f.Close()
		sameIDs(t, "after a flipped bit in the third record", claimAll(t, openSized(t, img, defaultWALSize)), ids(0, 2))
	})
}

// The log is a ring: it stays within its size while the writer applies
// it, and a crash after it wrapped replays the records on both sides.
func TestLogWraps(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	const size = walHeaderSize + 10*90 // room for about ten records
	ib := openSized(t, path, size)
	putN(t, ib, 0, 60)
	if st, err := os.Stat(path + walSuffix); err != nil || st.Size() > size {
		t.Fatalf("log size after 60 Puts = %v, %v; want at most %d", st.Size(), err, size)
	}
	// Leave the tail in the second half, with the ring empty, so that the
	// next six records cannot fit before the end.
	n, tail := 60, int64(0)
	for tail <= size/2 {
		putN(t, ib, n, n+1)
		n++
		if err := ib.settle(t.Context()); err != nil {
			t.Fatal(err)
		}
		ib.log.mu.Lock()
		tail = ib.log.tail
		ib.log.mu.Unlock()
	}
	release := holdWriter(t, ib)
	putN(t, ib, n, n+6)
	ib.log.mu.Lock()
	wrapped, logged := ib.log.tail < tail, len(ib.log.written)
	ib.log.mu.Unlock()
	if !wrapped || logged != 6 {
		t.Fatalf("tail %d then %d, %d groups logged: the test meant six logged Puts to wrap", tail, ib.log.tail, logged)
	}
	image := crashImage(t, path)
	release()
	got := claimAll(t, openSized(t, image, size))
	sameIDs(t, "after a crash with the log wrapped", got, ids(0, n+6))
}

// When the ring has no room (the writer is stuck), a Put skips the log and
// is answered after the commit that stores it, as without a log.
func TestLogFullFallsBackToCommits(t *testing.T) {
	t.Parallel()
	_, ib, release := heldLog(t, walHeaderSize+3*90, 2) // logged: the ring holds about three
	done := make(chan error, 1)
	go func() {
		for k := 2; k < 6; k++ {
			if ok, err := ib.Put(context.Background(), &inbox.Message{ID: fmt.Sprintf("wh_%03d", k), Body: []byte(fmt.Sprintf(`{"n":%d}`, k))}); !ok || err != nil {
				done <- fmt.Errorf("Put %d = %v, %v", k, ok, err)
				return
			}
		}
		done <- nil
	}()
	// Wait for a group the syncer could not log (nothing to wait on but
	// the queue itself), then check that its Put has not returned.
	for unlogged := false; !unlogged; {
		ib.log.mu.Lock()
		for _, g := range ib.log.applyq {
			unlogged = unlogged || !g.logged
		}
		ib.log.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the Puts returned (%v) while their commit could not run", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "after the stuck commit", claimAll(t, ib), ids(0, 6))
}

// When the log cannot be written, later Puts go to bbolt commits: nothing
// is lost and nothing fails.
func TestLogWriteErrorFallsBackToCommits(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	ib := openSized(t, path, defaultWALSize)
	ro, err := os.Open(path + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	orig, flush := ib.log.f, ib.log.flush
	defer orig.Close()
	defer flush.close()
	ib.log.f, ib.log.flush = ro, newFlusher(ro) // writes now fail: EBADF
	putN(t, ib, 0, 3)
	if ib.log.broken == nil {
		t.Error("the log's write error was not noticed")
	}
	sameIDs(t, "after the log failed", claimAll(t, ib), ids(0, 3))
}

// The flusher syncs, through AIO where the kernel allows it and with
// fdatasync otherwise.
func TestFlusher(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range []*flusher{newFlusher(f), {f: f}} {
		for range 3 {
			if _, err := f.WriteAt([]byte("x"), 0); err != nil {
				t.Fatal(err)
			}
			if err := s.sync(); err != nil {
				t.Errorf("sync = %v", err)
			}
		}
		s.close()
	}
}

// logBytes lays out a log holding the records of msgs with seqs from 1,
// under salt.
func logBytes(salt [8]byte, msgs ...*inbox.Message) []byte {
	head := make([]byte, walHeaderSize)
	copy(head, walMagic)
	copy(head[16:], salt[:])
	w := &wal{salt: salt}
	for k, m := range msgs {
		head = w.appendRecord(head, uint64(k+1), m)
	}
	return head
}

func TestScannerReadsOnlyItsSalt(t *testing.T) {
	t.Parallel()
	m := &inbox.Message{ID: "wh_1", Body: []byte("{}"), State: inbox.StatePending}
	b := logBytes([8]byte{1}, m, m)
	for _, tc := range []struct {
		salt [8]byte
		want int
	}{{[8]byte{1}, 2}, {[8]byte{2}, 0}} {
		s := &walScanner{r: bytes.NewReader(b), salt: tc.salt, size: int64(len(b)), off: walHeaderSize}
		ms, err := s.next(10)
		if err != nil || len(ms) != tc.want {
			t.Errorf("salt %x: %d messages, %v; want %d", tc.salt, len(ms), err, tc.want)
		}
	}
}

// FuzzScanner reads arbitrary bytes as a log, as a damaged disk might hold
// it: the scan must end without a panic, and what it returns must be
// messages a Put could have logged, in growing seq order.
func FuzzScanner(f *testing.F) {
	salt := [8]byte{7}
	m := &inbox.Message{ID: "wh_1", JobKey: "j", Body: []byte(`{"a":1}`), State: inbox.StatePending}
	f.Add(logBytes(salt, m, m, m), int64(walHeaderSize), uint64(0))
	f.Add(logBytes(salt, m), int64(40), uint64(0))
	f.Add(logBytes(salt), int64(walHeaderSize), uint64(1))
	big := logBytes(salt, m)
	binary.BigEndian.PutUint32(big[walHeaderSize:], 1<<31)
	f.Add(big, int64(walHeaderSize), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, off int64, seq uint64) {
		s := &walScanner{r: bytes.NewReader(b), salt: salt, size: int64(len(b)), off: off, seq: seq}
		last := seq
		for range 10 {
			ms, err := s.next(4)
			if err != nil || len(ms) == 0 {
				return
			}
			for _, m := range ms {
				if m.ID == "" || m.State != inbox.StatePending {
					t.Fatalf("scanned %+v", m)
				}
			}
			if s.seq <= last {
				t.Fatalf("seq went from %d to %d", last, s.seq)
			}
			last = s.seq
		}
	})
}

// Open replays the log in commits of at most Config.MaxBatch messages, each
// moving the checkpoint, as the field says: seven logged messages at
// MaxBatch 2 take four commits, three more than at the default.
func TestReplayCommitsMaxBatchAtATime(t *testing.T) {
	t.Parallel()
	path, _, release := heldLog(t, defaultWALSize, 7)
	image := crashImage(t, path)
	release()

	commits := func(cfg *Config) int {
		t.Helper()
		p := crashImage(t, image)
		db, err := open(p, cfg, defaultWALSize)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s := db.Store.(*store)
		if d, _ := s.Depth(t.Context()); d != 7 {
			t.Errorf("MaxBatch %+v: Depth after replay = %d; want 7", cfg, d)
		}
		id := 0
		s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	if got, want := commits(&Config{MaxBatch: 2}), commits(nil)+3; got != want {
		t.Errorf("transactions after a replay at MaxBatch 2 = %d; want %d (three more than at the default)", got, want)
	}
}
