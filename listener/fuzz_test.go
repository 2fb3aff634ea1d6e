package listener_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// FuzzServeHTTP posts arbitrary signed bodies and webhook-ids: the listener
// must answer with one of its documented codes, never panic, and store
// exactly the bytes it acknowledged.
func FuzzServeHTTP(f *testing.F) {
	for _, seed := range []struct{ id, body string }{
		{"msg_1", `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/1","output_file_uri":"files/o"}}`},
		{"msg_2", `{"type":"batch.failed","data":{"id":"batches/2","error_code":3,"user_metadata":{"k":"v"}}}`},
		{"msg_3", `{"type":"webhook.ping","data":{"id":"wh"}}`},
		{"msg_4", `{"type":7}`},
		{"msg_5", `[]`},
		{"", `{"type":"batch.expired"}`},
		{"msg 6\n", `{"type":"video.generated","data":null}`},
		{"msg_7", `{"type":"batch.succeeded","data":{"id":"batches/1"}}` + string(make([]byte, 300))},
	} {
		f.Add(seed.id, []byte(seed.body))
	}
	secret := newSecret(f)
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		f.Fatal(err)
	}
	ib := newMemory(f, &inbox.MemoryConfig{Capacity: 1 << 20})
	l := newListener(f, v, &listener.Config{Inbox: ib, MaxBodyBytes: 256})
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		now := time.Now()
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if err := (signing.Signer{Secrets: []string{secret}}).Sign(req.Header, id, now, body); err != nil {
			t.Fatal(err)
		}
		before, _ := ib.Get(context.Background(), id)
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusAccepted:
			m, err := ib.Get(context.Background(), id)
			if err != nil || !bytes.Equal(m.Body, body) || before != nil {
				t.Fatalf("202 for %q but stored %+v, %v (before: %v)", id, m, err, before)
			}
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized:
		case http.StatusRequestEntityTooLarge:
			if len(body) <= 256 {
				t.Fatalf("413 for a %d-byte body", len(body))
			}
		default:
			t.Fatalf("status %d for id %q body %q", rec.Code, id, body)
		}
	})
}
