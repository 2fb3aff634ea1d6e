package boltinbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/internal/backend"
	"github.com/geminihooks/geminihooks/ledger"
)

// Bucket names. msgs maps ID to record; the others are indexes whose values
// are message IDs: ready (pending and claimable, by ReceivedAt), delayed
// (pending until NotBefore), leases (claimed, by lease end), finished (done
// and dead, by finish time, for pruning), dead (by finish time), jobs
// (JobKey). Time keys end with the arrival sequence to break ties.
var (
	bktMeta     = []byte("geminihooks.meta")
	bktMsgs     = []byte("msgs")
	bktReady    = []byte("ready")
	bktDelayed  = []byte("delayed")
	bktLeases   = []byte("leases")
	bktFinished = []byte("finished")
	bktDead     = []byte("dead")
	bktJobs     = []byte("jobs")
	allBuckets  = [][]byte{bktMsgs, bktReady, bktDelayed, bktLeases, bktFinished, bktDead, bktJobs}

	keyFormat   = []byte("format")
	valueFormat = []byte("geminihooks-inbox/1")
)

// The defaults of Config's fields.
const (
	defaultLockTimeout = time.Second
	defaultMaxBatch    = 1000
)

// Config configures Open. A nil *Config gives every default; Open copies
// it, so later changes have no effect.
type Config struct {
	// LockTimeout is how long Open waits for another process to release
	// the file before it fails with ErrLocked. Default one second.
	LockTimeout time.Duration
	// MaxPending caps how many messages may be pending or claimed; a Put
	// beyond it fails with inbox.ErrFull. Default 0: no cap.
	MaxPending int
	// MaxBatch caps how many operations share one commit, and how many
	// logged messages Open replays per commit. Default 1000.
	MaxBatch int
	// Now is the clock for leases, retry times and finish times. Default
	// nil: time.Now.
	Now func() time.Time
	// Logger receives the claims Open returns to pending. Default nil:
	// discard.
	Logger *slog.Logger
}

// config is a Config with its defaults filled in.
type config struct {
	clock       func() time.Time
	logger      *slog.Logger
	lockTimeout time.Duration
	maxPending  int
	maxBatch    int
}

func newConfig(c *Config) (config, error) {
	var in Config
	if c != nil {
		in = *c
	}
	cfg := config{clock: in.Now, logger: in.Logger, lockTimeout: in.LockTimeout, maxPending: in.MaxPending, maxBatch: in.MaxBatch}
	switch {
	case in.LockTimeout < 0:
		return config{}, fmt.Errorf("boltinbox: Config.LockTimeout is %v, need a positive duration", in.LockTimeout)
	case in.MaxPending < 0:
		return config{}, fmt.Errorf("boltinbox: Config.MaxPending is %d, need 0 (no cap) or more", in.MaxPending)
	case in.MaxBatch < 0:
		return config{}, fmt.Errorf("boltinbox: Config.MaxBatch is %d, need at least 1", in.MaxBatch)
	}
	if cfg.clock == nil {
		cfg.clock = time.Now
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.lockTimeout == 0 {
		cfg.lockTimeout = defaultLockTimeout
	}
	if cfg.maxBatch == 0 {
		cfg.maxBatch = defaultMaxBatch
	}
	return cfg, nil
}

// DB is an inbox and a job ledger in one bbolt file, as Open returns it.
// It is safe for concurrent use by one process; Open fails with ErrLocked
// while another process has the file.
//
// A Put returns once its message is in the write-ahead log and the log is
// synced; Puts that arrive while a sync runs share the next one. One
// goroutine commits everything else, and the logged messages, to the
// file: changes that arrive while a commit is in progress share the next
// (group commit). While Puts arrive at 500 a second or more, acks,
// retries and dead letters, which a worker does not wait on before its
// next event, and the logged messages wait up to 5 ms after the last
// commit began, so that one commit carries many.
type DB struct {
	// Store is the inbox: the queue a listener's workers use and the admin
	// view for a console or a CLI. Its Close closes the file, and the
	// ledger with it.
	inbox.Store
	// Ledger keeps launched jobs and the reconciler's lease in the same
	// file, so they survive the same crashes as the deliveries.
	Ledger ledger.Ledger
}

// store is the inbox and, through jobLedger, the ledger of a DB.
type store struct {
	db     *bolt.DB
	clock  func() time.Time
	logger *slog.Logger
	cfg    config

	ops      chan *op
	log      *wal
	mu       sync.RWMutex // held for reading while sending on ops or adding to the log, so Close sees every change
	closed   atomic.Bool
	closing  chan struct{} // closed by Close after closed is set: the syncer writes what is open and stops
	stop     chan struct{} // closed after the syncer stopped: the writer drains and stops
	syncerWG sync.WaitGroup
	wg       sync.WaitGroup
	once     sync.Once

	depth  atomic.Int64 // pending + claimed in the file; only the writer changes it, holding log.mu
	notify chan struct{}
	// caughtUp is whether the last Claim found fewer messages than it
	// asked for (see Claim).
	caughtUp atomic.Bool
}

var _ inbox.Store = (*store)(nil)

// Open opens or creates the inbox file at path, and its write-ahead log
// at path+"-wal" (8 MiB), whose messages past the file it stores first. It
// fails with an error wrapping ErrLocked when another process holds the
// file, with one wrapping ErrCorrupt when the file is damaged or not an
// inbox, and with one naming the field when cfg holds a value out of range.
//
// Done and dead messages stay, deduplicating, until Prune removes them: the
// listener prunes the inbox it runs on.
func Open(path string, cfg *Config) (*DB, error) {
	return open(path, cfg, defaultWALSize)
}

// open is Open with the write-ahead log's size, which tests make small.
func open(path string, cfg *Config, walSize int64) (*DB, error) {
	c, err := newConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	db, err := openDB(path, &c)
	if err != nil {
		return nil, err
	}
	i := &store{
		db:      db,
		clock:   c.clock,
		logger:  c.logger,
		cfg:     c,
		ops:     make(chan *op, c.maxBatch),
		closing: make(chan struct{}),
		stop:    make(chan struct{}),
		notify:  make(chan struct{}, 1),
	}
	depth, err := i.setup()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	replayed, err := i.openLog(path, walSize)
	if err != nil {
		db.Close()
		return nil, err
	}
	i.depth.Store(int64(depth + replayed))
	i.syncerWG.Add(1)
	go i.syncer()
	i.wg.Add(1)
	go i.writer()
	return &DB{Store: i, Ledger: jobLedger{i}}, nil
}

// openLog opens the write-ahead log and replays it, turning a panic on a
// damaged page of the file into an error, as setup does.
func (i *store) openLog(path string, size int64) (replayed int, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: damaged page: %v", ErrCorrupt, path, r)
		}
	}()
	i.log, replayed, err = openWAL(path, i.db, size, i.cfg.maxBatch)
	if err != nil {
		return 0, err
	}
	if replayed > 0 {
		i.logger.Info("boltinbox: messages replayed from the write-ahead log", "messages", replayed)
	}
	return replayed, nil
}

// bbolt remaps the file each time it outgrows its mapping, and a remap
// waits for every read transaction to end, so a commit could stall behind a
// slow reader: a large initial mapping (address space, not memory or disk)
// makes remaps rare, as etcd does. The hashmap freelist allocates in
// constant time however fragmented the file is. (etcd also skips writing
// the freelist; then Open rebuilds it by walking the file, and on a damaged
// file bbolt panics in a goroutine of its own, which no recover catches.)
func initialMmapSize() int {
	if strconv.IntSize == 32 {
		return 64 << 20
	}
	return 1 << 30
}

func openDB(path string, cfg *config) (db *bolt.DB, err error) {
	// bbolt panics, or faults in mapped memory, on some damaged pages.
	// Turn both into errors here; checkFile has ruled out the common causes.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         cfg.lockTimeout,
		InitialMmapSize: initialMmapSize(),
		FreelistType:    bolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s stayed locked for %v; one process may open an inbox file at a time", ErrLocked, path, cfg.lockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	case err != nil:
		return nil, fileError("open", path, err)
	}
	return db, nil
}

// setup creates the buckets of a new file, or checks that an existing one is
// an inbox, and reads every stored record once. Reading everything at open
// costs a scan of the file, which pruning keeps small, and means a damaged
// page is found here, as an error, rather than in the middle of a Put. Claims
// it finds are released (see releaseAll).
func (i *store) setup() (depth int, err error) {
	released := 0
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged page: %v", r)
		}
	}()
	err = i.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		if meta == nil {
			empty := true
			if err := tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil }); err != nil {
				return err
			}
			if !empty {
				return errors.New("a bbolt database of another program")
			}
			if meta, err = tx.CreateBucket(bktMeta); err != nil {
				return err
			}
			if err := meta.Put(keyFormat, valueFormat); err != nil {
				return err
			}
			for _, name := range allBuckets {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
		}
		if f := meta.Get(keyFormat); string(f) != string(valueFormat) {
			return fmt.Errorf("unknown format %q", f)
		}
		for _, name := range trackerBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		// Files made before the arrival index get it filled below.
		backfill := tx.Bucket(bktArrivals) == nil
		arrivals, err := tx.CreateBucketIfNotExists(bktArrivals)
		if err != nil {
			return err
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bucket %s missing", name)
			}
		}
		var claimed []*record
		err = tx.Bucket(bktMsgs).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if r.msg.ID != string(k) {
				return fmt.Errorf("%w: key does not match", errBadRecord)
			}
			if r.msg.State == inbox.StatePending || r.msg.State == inbox.StateClaimed {
				depth++
			}
			if r.msg.State == inbox.StateClaimed {
				claimed = append(claimed, r)
			}
			if backfill {
				return arrivals.Put(seqKey(r.seq), k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if released = len(claimed); released == 0 {
			return nil
		}
		return releaseAll(tx, claimed, i.clock())
	})
	if err == nil && released > 0 {
		i.logger.Info("boltinbox: claims of a previous process returned to pending", "messages", released)
	}
	return depth, err
}

// releaseAll returns claimed messages to pending, claimable at now. A claim
// found at Open was made by a process that no longer has the file (the file
// lock admits one at a time), so nobody will finish it: waiting out its
// lease would only delay its handler's rerun.
func releaseAll(tx *bolt.Tx, claimed []*record, now time.Time) error {
	leases, ready, msgs := tx.Bucket(bktLeases), tx.Bucket(bktReady), tx.Bucket(bktMsgs)
	for _, r := range claimed {
		if err := leases.Delete(timeKey(r.msg.LeaseUntil, r.seq)); err != nil {
			return err
		}
		r.msg.State = inbox.StatePending
		r.msg.NotBefore = now
		r.msg.Lease = ""
		r.msg.LeaseUntil = time.Time{}
		if err := ready.Put(r.readyKey(), []byte(r.msg.ID)); err != nil {
			return err
		}
		if err := msgs.Put([]byte(r.msg.ID), r.encode()); err != nil {
			return err
		}
	}
	return nil
}

// Notify implements inbox.Inbox: it receives a value after a commit makes
// a message claimable.
func (i *store) Notify() <-chan struct{} { return i.notify }

// Close waits for queued changes to commit and closes the file. Calls after Close fail with inbox.ErrClosed.
func (i *store) Close() error {
	var err error
	i.once.Do(func() {
		i.mu.Lock()
		i.closed.Store(true)
		i.mu.Unlock()
		close(i.closing)
		i.syncerWG.Wait()
		close(i.stop)
		i.wg.Wait()
		i.log.flush.close()
		err = errors.Join(i.db.Close(), i.log.f.Close())
	})
	return err
}

func newLease() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Put implements inbox.Inbox. It returns once the message is in the
// write-ahead log and the log is synced, or, when the message skips the
// log, once its commit is.
func (i *store) Put(ctx context.Context, m *inbox.Message) (bool, error) {
	if m == nil || m.ID == "" {
		return false, errors.New("boltinbox: message without an ID")
	}
	if err := backend.CheckKeys(m.ID, m.JobKey); err != nil {
		return false, fmt.Errorf("boltinbox: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := i.clock()
	msg := inbox.Message{
		ID:          m.ID,
		JobKey:      m.JobKey,
		Body:        bytes.Clone(m.Body), // stored after Put returns
		Scheme:      m.Scheme,
		Synthesized: m.Synthesized,
		ReceivedAt:  m.ReceivedAt,
		State:       inbox.StatePending,
		NotBefore:   now,
	}
	if msg.ReceivedAt.IsZero() {
		msg.ReceivedAt = now
	}
	for {
		i.mu.RLock()
		if i.closed.Load() {
			i.mu.RUnlock()
			return false, inbox.ErrClosed
		}
		f, dup, err := i.log.add(&msg, i.has, i.full)
		i.mu.RUnlock()
		if err != nil {
			return false, err
		}
		res := dup
		if f != nil {
			res = f.res
		}
		select {
		case <-res.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		switch {
		case f != nil && res.err != nil:
			return false, res.err
		case f != nil:
			return true, nil
		case res.err != nil:
			// The Put this one duplicated failed: store this one.
			continue
		default:
			return false, nil
		}
	}
}

// has reports whether the file holds a message with the ID or JobKey.
func (i *store) has(id, job string) (bool, error) {
	found := false
	err := i.view(func(tx *bolt.Tx) error {
		found = tx.Bucket(bktMsgs).Get([]byte(id)) != nil ||
			job != "" && tx.Bucket(bktJobs).Get([]byte(job)) != nil
		return nil
	})
	return found, err
}

// full fails with ErrFull when the inbox holds Config.MaxPending messages,
// counting pending more that are on their way into the file.
func (i *store) full(pending int) error {
	if i.cfg.maxPending > 0 && i.depth.Load()+int64(pending) >= int64(i.cfg.maxPending) {
		return fmt.Errorf("boltinbox: %d messages pending: %w", i.cfg.maxPending, inbox.ErrFull)
	}
	return nil
}

// insert stores m as a new pending message unless the file holds its ID or
// JobKey, and reports whether it did.
func (w *wtx) insert(m *inbox.Message) (bool, error) {
	msgs := w.tx.Bucket(bktMsgs)
	if msgs.Get([]byte(m.ID)) != nil {
		return false, nil
	}
	jobs := w.tx.Bucket(bktJobs)
	if m.JobKey != "" && jobs.Get([]byte(m.JobKey)) != nil {
		return false, nil
	}
	seq, err := w.tx.Bucket(bktMeta).NextSequence()
	if err != nil {
		return false, storageErr(err)
	}
	r := &record{seq: seq, msg: *m}
	if err := w.putRecord(r); err != nil {
		return false, err
	}
	if m.JobKey != "" {
		if err := jobs.Put([]byte(m.JobKey), []byte(m.ID)); err != nil {
			return false, storageErr(err)
		}
	}
	if err := w.tx.Bucket(bktReady).Put(r.readyKey(), []byte(m.ID)); err != nil {
		return false, storageErr(err)
	}
	if err := w.tx.Bucket(bktArrivals).Put(seqKey(r.seq), []byte(m.ID)); err != nil {
		return false, storageErr(err)
	}
	w.depth++
	w.notify = true
	return true, nil
}

// Claim implements inbox.Inbox. Claims are stored with their lease end; the
// next Open of the file returns any still claimed to pending at once, since
// the process that made them has let the file go.
func (i *store) Claim(ctx context.Context, n int, lease time.Duration) ([]*inbox.Message, error) {
	if n <= 0 {
		return []*inbox.Message{}, nil
	}
	if lease <= 0 {
		return nil, fmt.Errorf("boltinbox: lease %v is not positive", lease)
	}
	out := []*inbox.Message{}
	// A claim that follows one which emptied the ready queue is lazy: while
	// Puts arrive fast it may wait for the acks and Puts of the next few
	// milliseconds and share their commit, instead of committing for the
	// one or two messages stored since. After a full claim there may be a
	// backlog, and the next commits at once.
	err := i.send(ctx, func(w *wtx) error {
		out = out[:0]
		if err := w.release(); err != nil {
			return err
		}
		ready := w.tx.Bucket(bktReady)
		var ids [][]byte
		c := ready.Cursor()
		for k, v := c.First(); k != nil && len(ids) < n; k, v = c.Next() {
			ids = append(ids, append([]byte(nil), v...))
		}
		for _, id := range ids {
			r, err := w.get(id)
			if err != nil {
				return err
			}
			if err := ready.Delete(r.readyKey()); err != nil {
				return storageErr(err)
			}
			r.msg.State = inbox.StateClaimed
			r.msg.Attempts++
			r.msg.Lease = newLease()
			r.msg.LeaseUntil = w.now.Add(lease)
			if err := w.tx.Bucket(bktLeases).Put(timeKey(r.msg.LeaseUntil, r.seq), id); err != nil {
				return storageErr(err)
			}
			if err := w.putRecord(r); err != nil {
				return err
			}
			out = append(out, r.public())
		}
		return nil
	}, i.caughtUp.Load())
	if err != nil {
		return nil, err
	}
	i.caughtUp.Store(len(out) < n)
	return out, nil
}

// release moves due retries and expired leases to the ready index.
func (w *wtx) release() error {
	ready := w.tx.Bucket(bktReady)
	for _, name := range [][]byte{bktDelayed, bktLeases} {
		b := w.tx.Bucket(name)
		var due [][2][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil && !keyTime(k).After(w.now); k, v = c.Next() {
			due = append(due, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
		for _, kv := range due {
			w.dirty = true
			r, err := w.get(kv[1])
			if err != nil {
				return err
			}
			if err := b.Delete(kv[0]); err != nil {
				return storageErr(err)
			}
			if r.msg.State == inbox.StateClaimed {
				r.msg.State = inbox.StatePending
				r.msg.NotBefore = r.msg.LeaseUntil
				r.msg.Lease = ""
				r.msg.LeaseUntil = time.Time{}
				if err := w.putRecord(r); err != nil {
					return err
				}
			}
			if err := ready.Put(r.readyKey(), kv[1]); err != nil {
				return storageErr(err)
			}
		}
	}
	return nil
}

// claimed returns the message id if lease is its current, unexpired claim.
func (w *wtx) claimed(id, lease string) (*record, error) {
	r, err := w.get([]byte(id))
	if err != nil {
		return nil, err
	}
	if r.msg.State != inbox.StateClaimed || r.msg.Lease != lease || lease == "" || !w.now.Before(r.msg.LeaseUntil) {
		return nil, fmt.Errorf("boltinbox: message %q: %w", id, inbox.ErrLeaseLost)
	}
	return r, nil
}

// finish ends the claim on r and records it under state.
func (w *wtx) finish(r *record, state inbox.State, reason string, keepLease bool) error {
	if err := w.tx.Bucket(bktLeases).Delete(timeKey(r.msg.LeaseUntil, r.seq)); err != nil {
		return storageErr(err)
	}
	r.msg.State = state
	r.msg.FinishedAt = w.now
	r.msg.LeaseUntil = time.Time{}
	if !keepLease {
		r.msg.Lease = ""
	}
	if state == inbox.StateDone {
		r.msg.Body = nil // a done message is only a dedupe record
	}
	if state == inbox.StateDead {
		r.msg.LastError = reason
		if err := w.tx.Bucket(bktDead).Put(r.deadKey(), []byte(r.msg.ID)); err != nil {
			return storageErr(err)
		}
	}
	if err := w.tx.Bucket(bktFinished).Put(timeKey(r.msg.FinishedAt, r.seq), []byte(r.msg.ID)); err != nil {
		return storageErr(err)
	}
	w.depth--
	return w.putRecord(r)
}

// Ack implements inbox.Inbox. Acking a done message again with the lease
// that completed it returns nil.
func (i *store) Ack(ctx context.Context, id, lease string) error {
	return i.lazy(ctx, func(w *wtx) error {
		r, err := w.get([]byte(id))
		if err != nil {
			return err
		}
		if r.msg.State == inbox.StateDone && lease != "" && r.msg.Lease == lease {
			return nil
		}
		if r, err = w.claimed(id, lease); err != nil {
			return err
		}
		return w.finish(r, inbox.StateDone, "", true)
	})
}

// Retry implements inbox.Inbox.
func (i *store) Retry(ctx context.Context, id, lease string, at time.Time, reason string) error {
	return i.lazy(ctx, func(w *wtx) error {
		r, err := w.claimed(id, lease)
		if err != nil {
			return err
		}
		if err := w.tx.Bucket(bktLeases).Delete(timeKey(r.msg.LeaseUntil, r.seq)); err != nil {
			return storageErr(err)
		}
		r.msg.State = inbox.StatePending
		r.msg.Lease = ""
		r.msg.LeaseUntil = time.Time{}
		r.msg.LastError = reason
		r.msg.NotBefore = at
		if err := w.schedule(r); err != nil {
			return err
		}
		return w.putRecord(r)
	})
}

// schedule indexes a pending message as ready or delayed by its NotBefore.
func (w *wtx) schedule(r *record) error {
	var err error
	if r.msg.NotBefore.After(w.now) {
		err = w.tx.Bucket(bktDelayed).Put(timeKey(r.msg.NotBefore, r.seq), []byte(r.msg.ID))
	} else {
		err = w.tx.Bucket(bktReady).Put(r.readyKey(), []byte(r.msg.ID))
		w.notify = true
	}
	return storageErr(err)
}

// DeadLetter implements inbox.Inbox.
func (i *store) DeadLetter(ctx context.Context, id, lease, reason string) error {
	return i.lazy(ctx, func(w *wtx) error {
		r, err := w.claimed(id, lease)
		if err != nil {
			return err
		}
		return w.finish(r, inbox.StateDead, reason, false)
	})
}

// Prune implements inbox.Inbox. It deletes in commits of at most the batch
// size, so a large prune does not hold up Puts.
func (i *store) Prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := i.do(ctx, func(w *wtx) error {
			n = 0
			fin := w.tx.Bucket(bktFinished)
			var due [][2][]byte
			c := fin.Cursor()
			for k, v := c.First(); k != nil && keyTime(k).Before(before) && len(due) < i.cfg.maxBatch; k, v = c.Next() {
				due = append(due, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
			}
			for _, kv := range due {
				w.dirty = true
				r, err := w.get(kv[1])
				if err != nil {
					return err
				}
				if err := fin.Delete(kv[0]); err != nil {
					return storageErr(err)
				}
				if err := w.tx.Bucket(bktDead).Delete(r.deadKey()); err != nil {
					return storageErr(err)
				}
				if r.msg.JobKey != "" {
					if err := w.tx.Bucket(bktJobs).Delete([]byte(r.msg.JobKey)); err != nil {
						return storageErr(err)
					}
				}
				if err := w.tx.Bucket(bktMsgs).Delete(kv[1]); err != nil {
					return storageErr(err)
				}
				if err := w.tx.Bucket(bktArrivals).Delete(seqKey(r.seq)); err != nil {
					return storageErr(err)
				}
				n++
			}
			return nil
		})
		if err != nil {
			// n is not read: when ctx ended, do returned without waiting,
			// and fn may still be running.
			return total, err
		}
		total += n
		if n < i.cfg.maxBatch {
			return total, nil
		}
	}
}

// view runs a read-only transaction, turning a panic on a damaged page into
// an error.
func (i *store) view(fn func(tx *bolt.Tx) error) (err error) {
	if i.closed.Load() {
		return inbox.ErrClosed
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	err = i.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return inbox.ErrClosed
	}
	return err
}

// Get implements inbox.Admin. A claim whose lease has ended reads as
// pending, as it would be claimed next.
func (i *store) Get(ctx context.Context, id string) (*inbox.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m, ok := i.log.get(id); ok {
		return m, nil
	}
	now := i.clock()
	var m *inbox.Message
	err := i.view(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, []byte(id))
		if err != nil {
			return err
		}
		if r.msg.State == inbox.StateClaimed && !now.Before(r.msg.LeaseUntil) {
			r.msg.State = inbox.StatePending
			r.msg.NotBefore = r.msg.LeaseUntil
		}
		m = r.public()
		return nil
	})
	return m, err
}

// Depth implements inbox.Inbox.
func (i *store) Depth(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if i.closed.Load() {
		return 0, inbox.ErrClosed
	}
	i.log.mu.Lock()
	defer i.log.mu.Unlock()
	return int(i.depth.Load()) + i.log.pending, nil
}

func getRecord(tx *bolt.Tx, id []byte) (*record, error) {
	v := tx.Bucket(bktMsgs).Get(id)
	if v == nil {
		return nil, fmt.Errorf("boltinbox: message %q: %w", id, inbox.ErrNotFound)
	}
	r, err := decodeRecord(v)
	if err != nil {
		return nil, fmt.Errorf("boltinbox: message %q: %w: %w", id, ErrCorrupt, err)
	}
	return r, nil
}
