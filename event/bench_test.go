package event_test

import (
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
)

// docsSample is the envelope example from the Gemini webhooks docs.
var docsSample = []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`)

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(docsSample)))
	for b.Loop() {
		if _, err := event.Parse(docsSample); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(docsSample)))
	for b.Loop() {
		ev, err := event.Parse(docsSample)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ev.Decode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	d := &event.Batch{Type: event.TypeBatchSucceeded, ID: "batch_123456", OutputFileURI: "gs://my-bucket/results.jsonl"}
	ts := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.Marshal(d, ts, nil); err != nil {
			b.Fatal(err)
		}
	}
}
