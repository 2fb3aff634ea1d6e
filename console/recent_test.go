package console

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
)

// A flood of requests nobody signed, each with headers up to a 64 KiB
// header limit, must neither make the console hold their headers nor push
// out the verified deliveries whose bodies replay needs.
func TestRejectedFloodIsBounded(t *testing.T) {
	t.Parallel()
	r := newRecent(10)
	r.add(&listener.Delivery{Start: time.Now(), Outcome: listener.OutcomeStored, Status: 202, WebhookID: "msg_good",
		Type: event.TypeBatchSucceeded, Header: http.Header{"Webhook-Id": {"msg_good"}}, Body: []byte(`{"type":"batch.succeeded"}`)})
	big := http.Header{"Webhook-Id": {strings.Repeat("i", 10000)}, "User-Agent": {strings.Repeat("u", 10000)}}
	for i := range 3000 {
		big[fmt.Sprintf("X-%04d", i)] = []string{"abc"}
	}
	for range 100 {
		r.add(&listener.Delivery{Start: time.Now(), Outcome: "bad_signature", Status: 401,
			WebhookID: strings.Repeat("i", 10000), Err: fmt.Errorf("%s", strings.Repeat("e", 10000)), Header: big})
	}
	if e, ok := r.byWebhookID("msg_good"); !ok || string(e.Body) != `{"type":"batch.succeeded"}` {
		t.Fatalf("the verified delivery was pushed out by rejected ones")
	}
	list := r.list(100)
	if len(list) != 11 {
		t.Fatalf("%d entries listed; want 10 rejected and 1 verified", len(list))
	}
	for _, e := range list {
		size := len(e.WebhookID) + len(e.Reason)
		for k, vs := range e.Header {
			for _, v := range vs {
				size += len(k) + len(v)
			}
		}
		if size > maxHeaderBytes+maxIDBytes+maxReasonBytes+16 {
			t.Errorf("entry %d keeps %d bytes of a request", e.N, size)
		}
		if e.Rejected && len(e.Header) > len(rejectedHeaders) {
			t.Errorf("rejected entry keeps %d headers", len(e.Header))
		}
	}
	if got, ok := r.byN(list[0].N); !ok || got.N != list[0].N {
		t.Errorf("byN(%d) = %v, %v", list[0].N, got, ok)
	}
}
