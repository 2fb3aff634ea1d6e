package boltinbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/internal/backend"
)

// The write-ahead log.
//
// A Put is answered once its message is in the log and the log is synced:
// one write and one fdatasync, shared by every Put that arrived while the
// previous sync ran. The writer then applies logged messages to the bbolt
// file in its ordinary commits, beside claims and acks, and records in the
// same commit how far it has applied the log (the checkpoint). Open
// replays what the log holds past the checkpoint. So a Put waits for one
// small sync rather than a bbolt commit, which writes a dozen pages and
// syncs twice, and the commits no longer sit on the request path.
//
// The log is a ring in the file path+"-wal": a 32-byte header, then
// groups of records, written at the tail and, when a group does not fit
// before walSize, from the start again over groups already applied. A
// record is
//
//	length uint32 | crc32c(salt, seq, payload) uint32 | seq uint64 | payload
//
// big-endian, where payload is the message's stored encoding. Sequence
// numbers grow, so a record of an earlier lap never passes for a newer one;
// the salt is drawn at each Open, so no record of an earlier Open does, nor
// bytes inside a body that happen to look like a record.
const (
	walSuffix     = "-wal"
	walHeaderSize = 32
	walRecordHead = 16
	// defaultWALSize is the ring's size. The writer applies the log at
	// least every few milliseconds, some 40 KiB at 6,000 1 KiB deliveries
	// a second; the size matters while commits stall, and for large
	// bodies (a group stops growing at a quarter of it).
	defaultWALSize = 8 << 20
)

var (
	walMagic = []byte("GHINBOXWAL\x00\x01")
	keyWAL   = []byte("wal") // in bktMeta: the checkpoint, seq then offset
	crcTable = crc32.MakeTable(crc32.Castagnoli)
)

// result is the outcome of a Put: closed done, then err.
type result struct {
	done chan struct{}
	err  error
}

func newResult() *result { return &result{done: make(chan struct{})} }

// storedResult is the result of a Put whose message the bbolt file has.
var storedResult = func() *result { r := newResult(); r.finish(nil); return r }()

func (r *result) finish(err error) {
	r.err = err
	close(r.done)
}

// flight is a Put from its check for duplicates until its message is in the
// bbolt file (or the Put failed). A Put of the same ID or JobKey meanwhile
// waits for it instead of storing the message twice.
type flight struct {
	msg inbox.Message
	res *result // the group's
}

// group is the Puts that share one write and sync of the log.
type group struct {
	buf      []byte // their records
	flights  []*flight
	lastSeq  uint64
	off, end int64 // where in the log, once written
	logged   bool  // written and synced; false: applied without the log
	res      *result
}

// wal is the log and the Puts on their way through it. Puts add records to
// open groups; the syncer writes and syncs each group and queues it for
// the writer; the writer applies it and, once the commit is durable,
// releases it, which frees its flights and its space in the ring.
type wal struct {
	f        *os.File
	flush    *flusher
	size     int64 // ring end
	maxGroup int   // a group stops growing here; one record over it skips the log
	salt     [8]byte
	broken   error // a failed write or sync: later groups skip the log (the syncer's own)

	mu      sync.Mutex
	open    []*group // filled by Puts; the last one accepts more
	written []*group // in the log, not yet released, in log order
	applyq  []*group // for the writer, in seq order
	tail    int64
	nextSeq uint64
	ids     map[string]*flight
	jobs    map[string]*flight
	pending int // flights: messages Depth counts before the bbolt file has them

	wake  chan struct{} // a group is open
	ready chan struct{} // applyq is not empty
}

// openWAL opens the log beside path, replays into db what it holds past
// db's checkpoint, and starts a new lap with a new salt. It reports how
// many messages the replay stored.
func openWAL(path string, db *bolt.DB, size int64, maxBatch int) (*wal, int, error) {
	f, err := os.OpenFile(path+walSuffix, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fileError("open", path+walSuffix, err)
	}
	w := &wal{
		f:        f,
		size:     size,
		maxGroup: int(size-walHeaderSize) / 4,
		ids:      map[string]*flight{},
		jobs:     map[string]*flight{},
		wake:     make(chan struct{}, 1),
		ready:    make(chan struct{}, 1),
	}
	n, err := w.replay(db, maxBatch)
	if err == nil {
		err = w.restart(db)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	w.flush = newFlusher(f)
	return w, n, nil
}

// replay applies the records past the checkpoint, in commits of at most
// maxBatch messages, each moving the checkpoint.
func (w *wal) replay(db *bolt.DB, maxBatch int) (int, error) {
	var seq uint64
	var off int64
	err := db.View(func(tx *bolt.Tx) error {
		seq, off = parseCheckpoint(tx.Bucket(bktMeta).Get(keyWAL))
		return nil
	})
	if err != nil {
		return 0, err
	}
	w.nextSeq = seq + 1
	st, err := w.f.Stat()
	if err != nil {
		return 0, fileError("stat", w.f.Name(), err)
	}
	head := make([]byte, walHeaderSize)
	if _, err := w.f.ReadAt(head, 0); err != nil || !bytes.Equal(head[:len(walMagic)], walMagic) {
		// New, or never got past its header: nothing was logged.
		return 0, nil
	}
	var salt [8]byte
	copy(salt[:], head[16:24])
	sc := &walScanner{r: io.NewSectionReader(w.f, 0, st.Size()), salt: salt, size: st.Size(), off: off, seq: seq}
	stored := 0
	for {
		ms, err := sc.next(maxBatch)
		if err != nil {
			return stored, err
		}
		if len(ms) == 0 {
			w.nextSeq = sc.seq + 1
			return stored, nil
		}
		err = db.Update(func(tx *bolt.Tx) error {
			x := &wtx{tx: tx}
			for _, m := range ms {
				if _, err := x.insert(m); err != nil {
					return err
				}
			}
			stored += int(x.depth)
			return tx.Bucket(bktMeta).Put(keyWAL, checkpoint(sc.seq, sc.off))
		})
		if err != nil {
			return stored, err
		}
	}
}

// restart fills the ring with zeros if the file is shorter, draws a new
// salt and writes the header, so that nothing the log holds now reads as a
// record again, then checkpoints the start of the log. Zeros written once
// make every later sync a flush of data alone: a sync that grows the file
// or fills a hole must also commit the file system's journal, and waits
// for whatever else that journal carries (another file's growth or
// deletion, say). Without the new checkpoint, the scan after a crash
// would begin at the old checkpoint's offset, where a record of the new
// lap may begin too (begin would still find the start: two guards).
func (w *wal) restart(db *bolt.DB) error {
	st, err := w.f.Stat()
	if err != nil {
		return fileError("stat", w.f.Name(), err)
	}
	if zeros := make([]byte, 1<<20); st.Size() < w.size {
		for off := st.Size(); off < w.size; off += int64(len(zeros)) {
			if _, err := w.f.WriteAt(zeros[:min(int64(len(zeros)), w.size-off)], off); err != nil {
				return fileError("write", w.f.Name(), err)
			}
		}
	}
	if _, err := rand.Read(w.salt[:]); err != nil {
		return err
	}
	head := make([]byte, walHeaderSize)
	copy(head, walMagic)
	copy(head[16:], w.salt[:])
	if _, err := w.f.WriteAt(head, 0); err != nil {
		return fileError("write", w.f.Name(), err)
	}
	if err := fdatasync(w.f); err != nil {
		return fileError("sync", w.f.Name(), err)
	}
	w.tail = walHeaderSize
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktMeta).Put(keyWAL, checkpoint(w.nextSeq-1, walHeaderSize))
	})
}

func checkpoint(seq uint64, off int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, seq)
	return binary.BigEndian.AppendUint64(b, uint64(off))
}

func parseCheckpoint(b []byte) (uint64, int64) {
	if len(b) != 16 {
		return 0, walHeaderSize
	}
	return binary.BigEndian.Uint64(b), int64(binary.BigEndian.Uint64(b[8:]))
}

// walScanner reads the records of one salt past a checkpoint, in log
// order: from the checkpoint's offset to the end of the ring, then from
// the start. Past a checkpoint the writer wraps at most once: it may only
// wrap over released groups, and the first group after the checkpoint
// stays unreleased until a newer checkpoint.
type walScanner struct {
	r       io.ReaderAt
	salt    [8]byte
	size    int64
	off     int64  // where the next record begins
	seq     uint64 // the last record's seq, or the checkpoint's
	started bool
	wrapped bool // the scan went back to the start
}

// next returns up to n more messages, none when the log ends.
func (s *walScanner) next(n int) ([]*inbox.Message, error) {
	if !s.started {
		s.started = true
		s.begin()
	}
	var ms []*inbox.Message
	for len(ms) < n {
		m, next, seq, ok := s.read(s.off, s.seq)
		if !ok && !s.wrapped {
			s.wrapped = true
			m, next, seq, ok = s.read(walHeaderSize, s.seq)
		}
		if !ok {
			break
		}
		if m == nil {
			return nil, fmt.Errorf("%w: %s: a logged record does not decode", ErrCorrupt, walSuffix)
		}
		ms = append(ms, m)
		s.seq, s.off = seq, next
	}
	return ms, nil
}

// begin picks where the records after the checkpoint start: at its offset,
// or at the start of the ring when the next group did not fit before the
// end. Both may hold a newer record: when the first group wrapped, a
// later one may begin exactly at the checkpoint's offset. The first is the
// one with the lower seq.
func (s *walScanner) begin() {
	if s.off == walHeaderSize {
		s.wrapped = true
		return
	}
	_, _, atOff, okOff := s.read(s.off, s.seq)
	_, _, atStart, okStart := s.read(walHeaderSize, s.seq)
	if okStart && (!okOff || atStart < atOff) {
		s.off, s.wrapped = walHeaderSize, true
	}
}

// read reads the record at off if it is whole, matches the salt and has a
// seq past after. A record that checks but does not decode returns ok with
// a nil message.
func (s *walScanner) read(off int64, after uint64) (m *inbox.Message, next int64, seq uint64, ok bool) {
	if off < walHeaderSize || off+walRecordHead > s.size {
		return nil, 0, 0, false
	}
	var h [walRecordHead]byte
	if _, err := s.r.ReadAt(h[:], off); err != nil {
		return nil, 0, 0, false
	}
	n := int64(binary.BigEndian.Uint32(h[0:]))
	seq = binary.BigEndian.Uint64(h[8:])
	if seq <= after || n > s.size-off-walRecordHead {
		return nil, 0, 0, false
	}
	payload := make([]byte, n)
	if _, err := s.r.ReadAt(payload, off+walRecordHead); err != nil {
		return nil, 0, 0, false
	}
	if recordCRC(s.salt, seq, payload) != binary.BigEndian.Uint32(h[4:]) {
		return nil, 0, 0, false
	}
	next = off + walRecordHead + n
	r, err := decodeRecord(payload)
	if err != nil || backend.CheckKeys(r.msg.ID, r.msg.JobKey) != nil || r.msg.State != inbox.StatePending {
		return nil, next, seq, true
	}
	return &r.msg, next, seq, true
}

func recordCRC(salt [8]byte, seq uint64, payload []byte) uint32 {
	var b [16]byte
	copy(b[:], salt[:])
	binary.BigEndian.PutUint64(b[8:], seq)
	return crc32.Update(crc32.Checksum(b[:], crcTable), crcTable, payload)
}

// appendRecord appends the record of m with seq to buf.
func (w *wal) appendRecord(buf []byte, seq uint64, m *inbox.Message) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, walRecordHead)...)
	buf = (&record{msg: *m}).appendTo(buf)
	payload := buf[start+walRecordHead:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], recordCRC(w.salt, seq, payload))
	binary.BigEndian.PutUint64(buf[start+8:], seq)
	return buf
}

// add starts a Put of m. It returns the flight to wait for or, when m is
// a duplicate, the result of the Put in flight it duplicates (storedResult
// when the bbolt file has it). stored looks for the ID or JobKey in the
// file; full fails when the inbox is at capacity.
func (w *wal) add(m *inbox.Message, stored func(id, job string) (bool, error), full func(pending int) error) (f *flight, dup *result, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if g := w.ids[m.ID]; g != nil {
		return nil, g.res, nil
	}
	if g := w.jobs[m.JobKey]; m.JobKey != "" && g != nil {
		return nil, g.res, nil
	}
	switch ok, err := stored(m.ID, m.JobKey); {
	case err != nil:
		return nil, nil, err
	case ok:
		return nil, storedResult, nil
	}
	if err := full(w.pending); err != nil {
		return nil, nil, err
	}
	var g *group
	if k := len(w.open); k > 0 && len(w.open[k-1].buf) < w.maxGroup {
		g = w.open[k-1]
	} else {
		g = &group{res: newResult()}
		w.open = append(w.open, g)
	}
	f = &flight{msg: *m, res: g.res}
	seq := w.nextSeq
	w.nextSeq++
	g.buf = w.appendRecord(g.buf, seq, &f.msg)
	g.lastSeq = seq
	g.flights = append(g.flights, f)
	w.ids[m.ID] = f
	if m.JobKey != "" {
		w.jobs[m.JobKey] = f
	}
	w.pending++
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return f, nil, nil
}

// seal takes the oldest open group, or returns nil.
func (w *wal) seal() *group {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.open) == 0 {
		return nil
	}
	g := w.open[0]
	w.open = w.open[1:]
	return g
}

// place finds room for n bytes: at the tail, or at the start when the
// tail is too near the end, without touching a group not yet released.
func (w *wal) place(n int64) (int64, bool) {
	if len(w.written) == 0 {
		if w.tail+n <= w.size {
			return w.tail, true
		}
		return walHeaderSize, walHeaderSize+n <= w.size
	}
	head := w.written[0].off
	if w.tail > head {
		if w.tail+n <= w.size {
			return w.tail, true
		}
		return walHeaderSize, walHeaderSize+n <= head
	}
	return w.tail, w.tail+n <= head
}

// syncer writes and syncs each group in turn and queues it for the writer.
// A group with no room in the ring, or any group once the log has failed,
// goes to the writer unlogged: its Puts are answered after the commit
// that applies it, as if there were no log. At closing it writes what is
// open, then returns.
func (i *store) syncer() {
	defer i.syncerWG.Done()
	w := i.log
	for {
		g := w.seal()
		if g == nil {
			select {
			case <-w.wake:
				continue
			case <-i.closing:
				// Close set closed under mu, so no Put adds a group now.
				if g = w.seal(); g == nil {
					return
				}
			}
		}
		w.mu.Lock()
		off, ok := w.place(int64(len(g.buf)))
		ok = ok && w.broken == nil
		w.mu.Unlock()
		if ok {
			g.off, g.end = off, off+int64(len(g.buf))
			if err := w.write(g); err != nil {
				// The log's state is unknown now; commits keep every
				// later Put durable, as before there was a log.
				w.broken = err
				i.logger.Error("boltinbox: write-ahead log failed; Puts now wait for bbolt commits", "error", err.Error())
				ok = false
			}
		}
		g.logged = ok
		w.mu.Lock()
		if ok {
			w.written = append(w.written, g)
			w.tail = g.end
		}
		w.applyq = append(w.applyq, g)
		w.mu.Unlock()
		select {
		case w.ready <- struct{}{}:
		default:
		}
		if ok {
			// After queueing: a Claim made once the Put returns finds
			// its message in the queue, which the writer applies first.
			g.res.finish(nil)
		}
	}
}

func (w *wal) write(g *group) error {
	if _, err := w.f.WriteAt(g.buf, g.off); err != nil {
		return err
	}
	return w.flush.sync()
}

// take hands the writer every queued group.
func (w *wal) take() []*group {
	w.mu.Lock()
	defer w.mu.Unlock()
	gs := w.applyq
	w.applyq = nil
	return gs
}

// count reports how many Puts are on their way into the file.
func (w *wal) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// queued reports whether groups wait for the writer.
func (w *wal) queued() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.applyq) > 0
}

// failed handles groups whose commit failed: logged ones wait in the queue
// for the next commit, ahead of newer ones; the Puts of unlogged ones fail.
func (w *wal) failed(gs []*group, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var logged, unlogged []*group
	for _, g := range gs {
		if g.logged {
			logged = append(logged, g)
		} else {
			unlogged = append(unlogged, g)
		}
	}
	w.applyq = append(logged, w.applyq...)
	w.release(unlogged, err)
}

// release ends the flights of gs once the bbolt file has their messages
// (err nil) or a commit of unlogged groups failed (err set). The caller
// holds mu.
func (w *wal) release(gs []*group, err error) {
	for _, g := range gs {
		for _, f := range g.flights {
			if w.ids[f.msg.ID] == f {
				delete(w.ids, f.msg.ID)
			}
			if w.jobs[f.msg.JobKey] == f {
				delete(w.jobs, f.msg.JobKey)
			}
			w.pending--
		}
		if g.logged {
			w.written = w.written[1:]
		} else {
			g.res.finish(err)
		}
	}
}

// get returns a copy of the message of the Put in flight with id.
func (w *wal) get(id string) (*inbox.Message, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.ids[id]
	if f == nil {
		return nil, false
	}
	m := f.msg
	m.Body = bytes.Clone(m.Body)
	return &m, true
}

// apply is the op that stores the messages of gs and moves the checkpoint
// past the last logged one.
func (i *store) apply(gs []*group) *op {
	return newOp(context.Background(), func(w *wtx) error {
		var last *group
		for _, g := range gs {
			for _, f := range g.flights {
				if _, err := w.insert(&f.msg); err != nil {
					return err
				}
			}
			if g.logged {
				last = g
			}
		}
		if last != nil {
			w.dirty = true
			if err := w.tx.Bucket(bktMeta).Put(keyWAL, checkpoint(last.lastSeq, last.end)); err != nil {
				return storageErr(err)
			}
		}
		w.applied = gs
		return nil
	}, false)
}
