package console

import (
	"bytes"
	"cmp"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/listener"
)

// entry is one answered request as the live list shows it.
type entry struct {
	N         uint64 // position in arrival order, its key in the console
	At        time.Time
	WebhookID string
	Type      string
	JobID     string
	Scheme    string
	Status    int
	Outcome   string
	Rejected  bool
	Reason    string
	Latency   time.Duration
	Header    http.Header
	Body      []byte
	Runs      []run
}

// run is one handler run of an entry's event.
type run struct {
	At       time.Time
	Attempt  int
	Outcome  string
	Duration time.Duration
	Err      string
}

// recent holds the last entries, and the SSE subscribers that hear about
// new ones. Rejected requests, which anyone can send, have a ring of their
// own, so a flood of them cannot push out the verified deliveries whose
// bodies replay needs; and every entry's size is bounded (see safeHeader).
type recent struct {
	mu       sync.Mutex
	max      int
	n        uint64
	verified []*entry          // stored and duplicate deliveries, oldest first
	rejected []*entry          // rejected requests, oldest first
	stored   map[string]*entry // by webhook-id, for deliveries that verified
	// early holds runs reported before their delivery: a worker may finish
	// a handler before the request path has reported its answer.
	early map[string][]run
	subs  map[chan *entry]struct{}
}

func newRecent(max int) *recent {
	return &recent{max: max, stored: map[string]*entry{}, early: map[string][]run{}, subs: map[chan *entry]struct{}{}}
}

// hidden are headers whose values the console never shows.
var hidden = map[string]bool{"Authorization": true, "Cookie": true, "Proxy-Authorization": true, "X-Goog-Api-Key": true}

// shortenSignatures keeps the scheme and the first characters of each
// signature: enough to tell two apart, too little to replay one.
func shortenSignatures(v string) string {
	parts := strings.Fields(v)
	for i, p := range parts {
		scheme, sig, ok := strings.Cut(p, ",")
		if !ok {
			scheme, sig = "", p
		} else {
			scheme += ","
		}
		if len(sig) > 8 {
			sig = sig[:8] + "…"
		}
		parts[i] = scheme + sig
	}
	return strings.Join(parts, " ")
}

// Bounds on what an entry keeps of a request, so that requests nobody
// signed cannot make the console hold much memory: a sender controls every
// header of a rejected request, up to the server's MaxHeaderBytes.
const (
	maxHeaderValue = 256     // bytes of one header value
	maxHeaderBytes = 4 << 10 // bytes of all the header names and values kept
	maxIDBytes     = 256     // bytes of a webhook-id
	maxReasonBytes = 512     // bytes of a rejection's reason
)

// rejectedHeaders are the headers kept for a rejected request: what says
// why it failed.
var rejectedHeaders = []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "Content-Type", "Content-Length", "User-Agent"}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// safeHeader copies h with credentials hidden, signatures shortened and
// every value and the whole bounded (see maxHeaderBytes). For a rejected
// request only rejectedHeaders are kept.
func safeHeader(h http.Header, rejected bool) http.Header {
	keys := rejectedHeaders
	if !rejected {
		keys = slices.Sorted(maps.Keys(h))
	}
	out := make(http.Header, min(len(keys), len(h)))
	budget := maxHeaderBytes
	for _, k := range keys {
		vs, ok := h[k]
		if !ok {
			continue
		}
		for _, v := range vs {
			switch {
			case hidden[k]:
				v = "[hidden]"
			case k == "Webhook-Signature":
				v = shortenSignatures(truncate(v, maxHeaderValue))
			default:
				v = truncate(v, maxHeaderValue)
			}
			if budget -= len(k) + len(v); budget < 0 {
				out["…"] = []string{"more headers not kept"}
				return out
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

func (r *recent) add(d *listener.Delivery) {
	rejected := d.Outcome != listener.OutcomeStored && d.Outcome != listener.OutcomeDuplicate
	e := &entry{
		At:        d.Start,
		WebhookID: truncate(d.WebhookID, maxIDBytes),
		Type:      string(d.Type),
		JobID:     d.JobID,
		Scheme:    string(d.Scheme),
		Status:    d.Status,
		Outcome:   string(d.Outcome),
		Rejected:  rejected,
		Latency:   d.Latency,
		Header:    safeHeader(d.Header, rejected),
	}
	if d.Err != nil {
		e.Reason = truncate(d.Err.Error(), maxReasonBytes)
	}
	if d.Outcome == listener.OutcomeStored {
		e.Body = bytes.Clone(d.Body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	e.N = r.n
	ring := &r.verified
	if rejected {
		ring = &r.rejected
	}
	if len(*ring) == r.max {
		old := (*ring)[0]
		(*ring)[0] = nil
		*ring = (*ring)[1:]
		if r.stored[old.WebhookID] == old {
			delete(r.stored, old.WebhookID)
		}
	}
	*ring = append(*ring, e)
	if d.Outcome == listener.OutcomeStored {
		r.stored[e.WebhookID] = e
		if runs, ok := r.early[e.WebhookID]; ok {
			e.Runs = runs
			delete(r.early, e.WebhookID)
		}
	}
	r.publish(e)
}

func (r *recent) ran(x *listener.Run) {
	rn := run{At: x.Start, Attempt: x.Attempt, Outcome: string(x.Outcome), Duration: x.Duration}
	if x.Err != nil {
		rn.Err = x.Err.Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.stored[x.WebhookID]
	if !ok {
		// Most likely its delivery is about to be reported. Runs of events
		// stored before this process started land here too, so the map is
		// bounded: past max, it starts again.
		if len(r.early) >= r.max {
			clear(r.early)
		}
		r.early[x.WebhookID] = append(r.early[x.WebhookID], rn)
		return
	}
	e.Runs = append(e.Runs, rn)
	r.publish(e)
}

// publish sends e to every subscriber that has room; a slow page misses
// updates rather than slowing the listener. Called with mu held.
func (r *recent) publish(e *entry) {
	c := e.snapshot()
	for ch := range r.subs {
		select {
		case ch <- c:
		default:
		}
	}
}

// snapshot copies what a page may read after the lock is released.
func (e *entry) snapshot() *entry {
	c := *e
	c.Runs = append([]run(nil), e.Runs...)
	return &c
}

func (r *recent) subscribe() (<-chan *entry, func()) {
	ch := make(chan *entry, 64)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subs, ch)
		r.mu.Unlock()
	}
}

// list returns the newest n entries of both rings, newest first.
func (r *recent) list(n int) []*entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*entry, 0, min(n, len(r.verified)+len(r.rejected)))
	i, j := len(r.verified)-1, len(r.rejected)-1
	for len(out) < n && (i >= 0 || j >= 0) {
		if j < 0 || i >= 0 && r.verified[i].N > r.rejected[j].N {
			out = append(out, r.verified[i].snapshot())
			i--
		} else {
			out = append(out, r.rejected[j].snapshot())
			j--
		}
	}
	return out
}

func (r *recent) byN(n uint64) (*entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ring := range [][]*entry{r.verified, r.rejected} {
		k, ok := slices.BinarySearchFunc(ring, n, func(e *entry, n uint64) int { return cmp.Compare(e.N, n) })
		if ok {
			return ring[k].snapshot(), true
		}
	}
	return nil, false
}

func (r *recent) byWebhookID(id string) (*entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.stored[id]
	if !ok {
		return nil, false
	}
	return e.snapshot(), true
}
