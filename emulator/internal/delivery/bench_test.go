package delivery

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkDeliver measures end-to-end throughput on loopback: Enqueue to a
// 2xx answer, with the default worker count.
func BenchmarkDeliver(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	e := New(Options{})
	defer e.Close()
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123"}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := e.Enqueue(Delivery{ID: fmt.Sprint(i), URI: srv.URL, Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Idle(context.Background()); err != nil {
		b.Fatal(err)
	}
}
