package console

import (
	"bytes"
	"net/http"
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

// recent is a bounded ring of entries, and the SSE subscribers that hear
// about new ones.
type recent struct {
	mu      sync.Mutex
	max     int
	n       uint64
	entries []*entry          // oldest first
	stored  map[string]*entry // by webhook-id, for deliveries that verified
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

// safeHeader copies h with credentials hidden and signatures shortened.
func safeHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		switch {
		case hidden[k]:
			out[k] = []string{"[hidden]"}
		case k == "Webhook-Signature":
			s := make([]string, len(vs))
			for i, v := range vs {
				s[i] = shortenSignatures(v)
			}
			out[k] = s
		default:
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}

func (r *recent) add(d *listener.Delivery) {
	e := &entry{
		At:        d.Start,
		WebhookID: d.WebhookID,
		Type:      string(d.Type),
		JobID:     d.JobID,
		Scheme:    string(d.Scheme),
		Status:    d.Status,
		Outcome:   string(d.Outcome),
		Rejected:  d.Outcome.Rejected(),
		Latency:   d.Latency,
		Header:    safeHeader(d.Header),
	}
	if d.Err != nil {
		e.Reason = d.Err.Error()
	}
	if d.Outcome == listener.OutcomeStored {
		e.Body = bytes.Clone(d.Body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	e.N = r.n
	if len(r.entries) == r.max {
		old := r.entries[0]
		r.entries[0] = nil
		r.entries = r.entries[1:]
		if r.stored[old.WebhookID] == old {
			delete(r.stored, old.WebhookID)
		}
	}
	r.entries = append(r.entries, e)
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

// list returns the newest n entries, newest first.
func (r *recent) list(n int) []*entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*entry, 0, min(n, len(r.entries)))
	for i := len(r.entries) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, r.entries[i].snapshot())
	}
	return out
}

func (r *recent) byN(n uint64) (*entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) == 0 || n < r.entries[0].N || n > r.entries[len(r.entries)-1].N {
		return nil, false
	}
	return r.entries[n-r.entries[0].N].snapshot(), true
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
