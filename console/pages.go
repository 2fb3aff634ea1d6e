package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/signing"
)

var funcs = map[string]any{
	"last": func(rs []run) run { return rs[len(rs)-1] },
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		d := now.Sub(t).Round(time.Second)
		if d < time.Second {
			return "just now"
		}
		return d.String() + " ago"
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("15:04:05.000")
	},
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"ms": func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) },
	"dash": func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	},
}

// flashes are the outcomes an action redirects with; anything else in the
// msg parameter is ignored.
var flashes = map[string]string{
	"replayed":    "Queued again: the handlers will run it shortly.",
	"redelivered": "Sent to the URL.",
}

// row is a stored message as the list shows it.
type row struct {
	*inbox.Message
	Type, JobID string
	CanReplay   bool
}

type indexPage struct {
	Now      time.Time
	Counts   inbox.Counts
	CountErr string
	Filter   inbox.Filter
	Types    []event.Type
	States   []inbox.State
	Rows     []row
	Next     string
	ListErr  string
	Live     []*entry
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := inbox.Filter{
		State: inbox.State(q.Get("state")),
		Type:  strings.TrimSpace(q.Get("type")),
		JobID: strings.TrimSpace(q.Get("job")),
		ID:    strings.TrimSpace(q.Get("id")),
	}
	switch f.State {
	case "", inbox.StatePending, inbox.StateClaimed, inbox.StateDone, inbox.StateDead:
	default:
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}
	p := indexPage{
		Now:    c.now(),
		Filter: f,
		States: []inbox.State{inbox.StatePending, inbox.StateClaimed, inbox.StateDone, inbox.StateDead},
		Live:   c.recent.list(50),
	}
	for ti := range event.Types() {
		if ti.Canonical == ti.Type {
			p.Types = append(p.Types, ti.Type)
		}
	}
	ctx, cancel := bounded(r)
	defer cancel()
	var err error
	if p.Counts, err = c.ib.Count(ctx); err != nil {
		p.CountErr = err.Error()
	}
	page, err := c.ib.List(ctx, f, q.Get("after"), c.page)
	switch {
	case errors.Is(err, inbox.ErrBadCursor):
		http.Error(w, "bad page cursor", http.StatusBadRequest)
		return
	case err != nil:
		p.ListErr = err.Error()
	default:
		for _, m := range page.Messages {
			p.Rows = append(p.Rows, c.row(m))
		}
		if page.Next != "" {
			nq := url.Values{}
			for k, v := range q {
				nq[k] = v
			}
			nq.Set("after", page.Next)
			p.Next = "./?" + nq.Encode()
		}
	}
	c.render(w, "index.html", p)
}

func (c *Console) row(m *inbox.Message) row {
	typ, job := inbox.Summarize(m)
	rw := row{Message: m, Type: typ, JobID: job}
	switch m.State {
	case inbox.StateDead:
		rw.CanReplay = true
	case inbox.StateDone:
		rw.CanReplay = len(m.Body) > 0 || c.recentBody(m.ID) != nil
	}
	return rw
}

type detailPage struct {
	Now     time.Time
	Flash   string
	Error   string
	Msg     *row
	Entry   *entry
	Headers [][2]string
	Body    string
}

func (c *Console) detail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := detailPage{Now: c.now(), Flash: flashes[q.Get("msg")], Error: q.Get("err")}
	if len(p.Error) > 300 {
		p.Error = p.Error[:300]
	}
	id := q.Get("id")
	if n, err := strconv.ParseUint(q.Get("n"), 10, 64); err == nil {
		if e, ok := c.recent.byN(n); ok {
			p.Entry = e
			if id == "" && !e.Rejected {
				id = e.WebhookID
			}
		}
	}
	if id != "" {
		ctx, cancel := bounded(r)
		m, err := c.ib.Get(ctx, id)
		cancel()
		switch {
		case err == nil:
			rw := c.row(m)
			p.Msg = &rw
		case !errors.Is(err, inbox.ErrNotFound):
			p.Error = err.Error()
		}
		if p.Entry == nil {
			if e, ok := c.recent.byWebhookID(id); ok {
				p.Entry = e
			}
		}
	}
	if p.Msg == nil && p.Entry == nil {
		w.WriteHeader(http.StatusNotFound)
	}
	var body []byte
	if p.Msg != nil {
		body = p.Msg.Body
	}
	if len(body) == 0 && p.Entry != nil {
		body = p.Entry.Body
	}
	p.Body = pretty(body)
	if p.Entry != nil {
		for k, vs := range p.Entry.Header {
			for _, v := range vs {
				p.Headers = append(p.Headers, [2]string{k, v})
			}
		}
		sortHeaders(p.Headers)
	}
	c.render(w, "detail.html", p)
}

func sortHeaders(h [][2]string) {
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && h[j][0] < h[j-1][0]; j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}

// pretty indents a JSON body, or shows it as it came when it is not JSON.
func pretty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") == nil {
		return buf.String()
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (c *Console) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		c.log.Error("console: rendering a page", "page", name, "error", err)
		http.Error(w, "console: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// liveEvent is an entry as the page's script receives it.
type liveEvent struct {
	N         uint64 `json:"n"`
	At        string `json:"at"`
	WebhookID string `json:"webhook_id"`
	Type      string `json:"type"`
	JobID     string `json:"job_id"`
	Scheme    string `json:"scheme"`
	Status    int    `json:"status"`
	Outcome   string `json:"outcome"`
	Rejected  bool   `json:"rejected"`
	Reason    string `json:"reason"`
	Run       string `json:"run"`
}

// events streams each new or updated entry as a Server-Sent Event until
// the page goes away or the console is closed. Each write gets a deadline
// of its own, so a server's WriteTimeout does not cut the stream, and a
// page that stops reading is dropped.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// Not every ResponseWriter can set deadlines; the stream works without.
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	ch, cancel := c.recent.subscribe()
	defer cancel()
	shutdown := c.shutdownOf(r)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, ": connected\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	keepalive := time.NewTicker(25 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-shutdown:
			return
		case <-keepalive.C:
			_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			io.WriteString(w, ": keepalive\n\n")
		case e := <-ch:
			ev := liveEvent{N: e.N, At: e.At.UTC().Format("15:04:05.000"), WebhookID: e.WebhookID, Type: e.Type, JobID: e.JobID,
				Scheme: e.Scheme, Status: e.Status, Outcome: e.Outcome, Rejected: e.Rejected, Reason: e.Reason}
			if len(e.Runs) > 0 {
				ev.Run = e.Runs[len(e.Runs)-1].Outcome
			}
			b, _ := json.Marshal(ev)
			_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			fmt.Fprintf(w, "event: delivery\ndata: %s\n\n", b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// streamWriteTimeout bounds one write of the live stream.
const streamWriteTimeout = 10 * time.Second

func back(w http.ResponseWriter, id, msg string, err error) {
	q := url.Values{"id": {id}}
	if msg != "" {
		q.Set("msg", msg)
	}
	if err != nil {
		q.Set("err", err.Error())
	}
	seeOther(w, "delivery?"+q.Encode())
}

// replay queues a dead or handled event again.
func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("id")
	if id == "" {
		http.Error(w, "no id", http.StatusBadRequest)
		return
	}
	ctx, cancel := bounded(r)
	defer cancel()
	err := c.ib.Requeue(ctx, id, c.recentBody(id))
	if errors.Is(err, inbox.ErrNoBody) {
		err = errNoBody
	}
	if err != nil {
		c.log.Warn("console: replay failed", "webhook_id", id, "error", err)
		back(w, id, "", err)
		return
	}
	c.log.Info("console: replayed", "webhook_id", id)
	back(w, id, "replayed", nil)
}

// redeliver POSTs a stored event's body to a URL. The console holds no
// secret, so the request is not signed: it carries the original
// webhook-id and webhook-timestamp, and Geminihooks-Redelivery: console.
func (c *Console) redeliver(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("id")
	target, err := url.Parse(strings.TrimSpace(r.PostFormValue("url")))
	if id == "" || err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		back(w, id, "", errors.New("console: give an absolute http or https URL"))
		return
	}
	ctx, cancel := bounded(r)
	defer cancel()
	body := c.recentBody(id)
	var ts string
	if e, ok := c.recent.byWebhookID(id); ok {
		ts = e.Header.Get("webhook-timestamp")
	}
	if m, err := c.ib.Get(ctx, id); err == nil && len(m.Body) > 0 {
		body = m.Body
	}
	if len(body) == 0 {
		back(w, id, "", errNoBody)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		back(w, id, "", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderID, id)
	if ts != "" {
		req.Header.Set("webhook-timestamp", ts)
	}
	req.Header.Set("Geminihooks-Redelivery", "console")
	resp, err := c.client.Do(req)
	if err != nil {
		back(w, id, "", fmt.Errorf("console: re-delivery to %s failed", target.Redacted()))
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	c.log.Info("console: re-delivered", "webhook_id", id, "url", target.Redacted(), "status", resp.StatusCode)
	if resp.StatusCode/100 != 2 {
		back(w, id, "", fmt.Errorf("console: %s answered %s", target.Redacted(), resp.Status))
		return
	}
	back(w, id, "redelivered", nil)
}
