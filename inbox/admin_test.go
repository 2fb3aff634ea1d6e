package inbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/inbox"
)

// Pruned messages leave List, including after the arrival log is compacted.
func TestMemoryListAfterPrune(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ib, err := inbox.NewMemory(&inbox.MemoryConfig{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	for i := range 10 {
		if _, err := ib.Put(ctx, &inbox.Message{ID: fmt.Sprint(i), Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := ib.Claim(ctx, 6, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := ib.Ack(ctx, m.ID, m.Lease); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Hour)
	if n, err := ib.Prune(ctx, now); err != nil || n != 6 {
		t.Fatalf("Prune = %d, %v; want 6", n, err)
	}
	p, err := ib.List(ctx, inbox.Filter{}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range p.Messages {
		got = append(got, m.ID)
	}
	if diff := cmp.Diff([]string{"9", "8", "7", "6"}, got); diff != "" {
		t.Errorf("List after prune (-want +got):\n%s", diff)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		m        inbox.Message
		typ, job string
	}{
		{"body", inbox.Message{Body: []byte(`{"type":"batch.failed","data":{"id":"batches/1"}}`)}, "batch.failed", "batches/1"},
		{"body wins over job key", inbox.Message{Body: []byte(`{"type":"batch.completed","data":{"id":"b"}}`), JobKey: "batch.succeeded\x00b"}, "batch.completed", "b"},
		{"job key when the body is gone", inbox.Message{JobKey: "video.generated\x00operations/9"}, "video.generated", "operations/9"},
		{"odd shapes", inbox.Message{Body: []byte(`{"type":7,"data":[1]}`)}, "", ""},
		{"not json", inbox.Message{Body: []byte(`nope`), JobKey: "x\x00y"}, "x", "y"},
		{"nothing", inbox.Message{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			typ, job := inbox.Summarize(&tt.m)
			if typ != tt.typ || job != tt.job {
				t.Errorf("Summarize = %q, %q; want %q, %q", typ, job, tt.typ, tt.job)
			}
		})
	}
}

// Bodies are untrusted: Summarize and Filter.Match must never panic.
func FuzzSummarize(f *testing.F) {
	f.Add([]byte(`{"type":"batch.failed","data":{"id":"batches/1"}}`), "batch.failed\x00b")
	f.Add([]byte(`{"data":null}`), "")
	f.Fuzz(func(t *testing.T, body []byte, jobKey string) {
		m := &inbox.Message{ID: "x", Body: body, JobKey: jobKey}
		typ, job := inbox.Summarize(m)
		if !(inbox.Filter{Type: typ, JobID: job}).Match(m) {
			t.Errorf("a message does not match its own summary %q, %q", typ, job)
		}
	})
}
