package inboxtest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/inbox"
)

// event stores a message shaped like a listener's: a JSON event body and,
// for terminal types, a JobKey.
func (e *env) event(id, typ, job string) {
	e.Helper()
	m := &inbox.Message{
		ID:         id,
		Body:       fmt.Appendf(nil, `{"type":%q,"data":{"id":%q}}`, typ, job),
		ReceivedAt: e.clock.Now(),
	}
	if typ != "batch.running" {
		m.JobKey = typ + "\x00" + job
	}
	e.put(m)
	e.clock.Advance(time.Second)
}

// claimFirst claims one message and checks it is id, the oldest.
func (e *env) claimFirst(id string) *inbox.Message {
	e.Helper()
	ms := e.claim(1, lease)
	if got := ids(ms); len(got) != 1 || got[0] != id {
		e.Fatalf("Claim(1) = %v; want [%s]", got, id)
	}
	return ms[0]
}

func (e *env) list(f inbox.Filter, cursor string, limit int) *inbox.Page {
	e.Helper()
	p, err := e.ib.List(e.ctx, f, cursor, limit)
	if err != nil {
		e.Fatalf("List(%+v, %q, %d) = %v", f, cursor, limit, err)
	}
	return p
}

// all lists every match, page by page, and returns the IDs in order.
func (e *env) all(f inbox.Filter, limit int) []string {
	e.Helper()
	var out []string
	cursor := ""
	for range 1000 {
		p := e.list(f, cursor, limit)
		out = append(out, ids(p.Messages)...)
		if p.Next == "" {
			return out
		}
		cursor = p.Next
	}
	e.Fatal("List never ended")
	return nil
}

func testListPages(e *env) {
	e.putIDs("a", "b", "c", "d", "e", "f", "g")
	p := e.list(inbox.Filter{}, "", 3)
	if diff := cmp.Diff([]string{"g", "f", "e"}, ids(p.Messages)); diff != "" {
		e.Errorf("first page (-want +got):\n%s", diff)
	}
	if p.Next == "" {
		e.Fatal("first page has no Next")
	}
	if diff := cmp.Diff([]string{"g", "f", "e", "d", "c", "b", "a"}, e.all(inbox.Filter{}, 3)); diff != "" {
		e.Errorf("pages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"g", "f", "e", "d", "c", "b", "a"}, e.all(inbox.Filter{}, 7)); diff != "" {
		e.Errorf("one full page (-want +got):\n%s", diff)
	}
	if got := e.list(inbox.Filter{}, "", 0); len(got.Messages) != 1 {
		e.Errorf("limit 0 listed %d; want 1", len(got.Messages))
	}
	if got := e.list(inbox.Filter{}, "", 3).Messages[0]; string(got.Body) != `{"id":"g"}` || got.State != inbox.StatePending {
		e.Errorf("listed message %+v; want g's body, pending", got)
	}
}

func testListStable(e *env) {
	e.putIDs("a", "b", "c", "d")
	p := e.list(inbox.Filter{}, "", 2)
	e.putIDs("x", "y")
	rest := e.list(inbox.Filter{}, p.Next, 10)
	if diff := cmp.Diff([]string{"b", "a"}, ids(rest.Messages)); diff != "" {
		e.Errorf("second page after new puts (-want +got):\n%s", diff)
	}
	if rest.Next != "" {
		e.Errorf("last page has Next %q", rest.Next)
	}
}

func testListFilters(e *env) {
	e.event("wh_1", "batch.succeeded", "batches/1")
	e.event("wh_2", "batch.failed", "batches/2")
	e.event("wh_3", "batch.succeeded", "batches/3")
	e.event("wh_4", "batch.running", "batches/4")
	e.event("wh_5", "video.generated", "operations/5")
	// wh_1 is done (its body is gone), wh_2 dead, wh_3 claimed.
	m := e.claimFirst("wh_1")
	if err := e.ib.Ack(e.ctx, m.ID, m.Lease); err != nil {
		e.Fatal(err)
	}
	m = e.claimFirst("wh_2")
	if err := e.ib.DeadLetter(e.ctx, m.ID, m.Lease, "no"); err != nil {
		e.Fatal(err)
	}
	e.claimFirst("wh_3")
	tests := []struct {
		name string
		f    inbox.Filter
		want []string
	}{
		{"none", inbox.Filter{}, []string{"wh_5", "wh_4", "wh_3", "wh_2", "wh_1"}},
		{"state pending", inbox.Filter{State: inbox.StatePending}, []string{"wh_5", "wh_4"}},
		{"state claimed", inbox.Filter{State: inbox.StateClaimed}, []string{"wh_3"}},
		{"state done", inbox.Filter{State: inbox.StateDone}, []string{"wh_1"}},
		{"state dead", inbox.Filter{State: inbox.StateDead}, []string{"wh_2"}},
		{"type, done ones by job key", inbox.Filter{Type: "batch.succeeded"}, []string{"wh_3", "wh_1"}},
		{"job id", inbox.Filter{JobID: "batches/4"}, []string{"wh_4"}},
		{"job id of a done one", inbox.Filter{JobID: "batches/1"}, []string{"wh_1"}},
		{"id substring", inbox.Filter{ID: "_2"}, []string{"wh_2"}},
		{"everything at once", inbox.Filter{State: inbox.StateDead, Type: "batch.failed", JobID: "batches/2", ID: "wh"}, []string{"wh_2"}},
		{"no match", inbox.Filter{Type: "batch.failed", State: inbox.StatePending}, nil},
	}
	for _, tt := range tests {
		e.Run(tt.name, func(t *testing.T) {
			ae := &env{T: t, ib: e.ib, clock: e.clock, ctx: e.ctx}
			if diff := cmp.Diff(tt.want, ae.all(tt.f, 2)); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
		})
	}
}

func testListBadCursor(e *env) {
	e.putIDs("a")
	for _, c := range []string{"x", "-1", "0", "1.5", "99999999999999999999999"} {
		if _, err := e.ib.List(e.ctx, inbox.Filter{}, c, 10); !errors.Is(err, inbox.ErrBadCursor) {
			e.Errorf("List with cursor %q = %v; want ErrBadCursor", c, err)
		}
	}
}

func testCount(e *env) {
	e.putIDs("a", "b", "c", "d", "e")
	m := e.claimFirst("a")
	if err := e.ib.Ack(e.ctx, m.ID, m.Lease); err != nil {
		e.Fatal(err)
	}
	m = e.claimFirst("b")
	if err := e.ib.DeadLetter(e.ctx, m.ID, m.Lease, "no"); err != nil {
		e.Fatal(err)
	}
	e.claimFirst("c")
	got, err := e.ib.Count(e.ctx)
	if err != nil {
		e.Fatal(err)
	}
	if diff := cmp.Diff(inbox.Counts{Pending: 2, Claimed: 1, Done: 1, Dead: 1}, got); diff != "" {
		e.Errorf("Count (-want +got):\n%s", diff)
	}
}

func testRequeueDead(e *env) {
	e.event("wh_1", "batch.failed", "batches/1")
	m := e.claimFirst("wh_1")
	if err := e.ib.DeadLetter(e.ctx, m.ID, m.Lease, "bad"); err != nil {
		e.Fatal(err)
	}
	if err := e.ib.Requeue(e.ctx, "wh_1", nil); err != nil {
		e.Fatalf("Requeue of a dead letter = %v", err)
	}
	got := e.claimFirst("wh_1")
	if got.Attempts != 1 || string(got.Body) != string(m.Body) {
		e.Errorf("claimed after requeue: attempts %d, body %q; want 1, %q", got.Attempts, got.Body, m.Body)
	}
	e.dup(&inbox.Message{ID: "other", JobKey: "batch.failed\x00batches/1", Body: []byte("{}")})
}

func testRequeueDone(e *env) {
	e.event("wh_1", "batch.succeeded", "batches/1")
	m := e.claimFirst("wh_1")
	if err := e.ib.Ack(e.ctx, m.ID, m.Lease); err != nil {
		e.Fatal(err)
	}
	if err := e.ib.Requeue(e.ctx, "wh_1", nil); !errors.Is(err, inbox.ErrNoBody) {
		e.Fatalf("Requeue of a done message without a body = %v; want ErrNoBody", err)
	}
	if got := e.get("wh_1"); got.State != inbox.StateDone {
		e.Fatalf("after a refused requeue the message is %s", got.State)
	}
	if err := e.ib.Requeue(e.ctx, "wh_1", m.Body); err != nil {
		e.Fatalf("Requeue with the body = %v", err)
	}
	if got := e.get("wh_1"); got.State != inbox.StatePending || got.Attempts != 0 {
		e.Errorf("after requeue: %s, %d attempts; want pending, 0", got.State, got.Attempts)
	}
	got := e.claimFirst("wh_1")
	if string(got.Body) != string(m.Body) {
		e.Errorf("claimed body %q; want %q", got.Body, m.Body)
	}
	if err := e.ib.Ack(e.ctx, got.ID, got.Lease); err != nil {
		e.Fatalf("Ack after requeue = %v", err)
	}
	e.dup(&inbox.Message{ID: "wh_1", Body: []byte("{}")})
}

func testRequeueRefused(e *env) {
	e.putIDs("a", "b")
	e.claimFirst("a")
	for _, id := range []string{"a", "b"} {
		if err := e.ib.Requeue(e.ctx, id, []byte("{}")); !errors.Is(err, inbox.ErrNotFinished) {
			e.Errorf("Requeue(%q) = %v; want ErrNotFinished", id, err)
		}
	}
	if err := e.ib.Requeue(e.ctx, "nope", []byte("{}")); !errors.Is(err, inbox.ErrNotFound) {
		e.Errorf("Requeue of an unknown ID = %v; want ErrNotFound", err)
	}
}
