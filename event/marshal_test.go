package event_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/google/go-cmp/cmp"
)

func TestMarshalDocsSample(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile(filepath.Join("testdata", "events", "batch.succeeded.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batch_123456", OutputFileURI: "gs://my-bucket/results.jsonl"},
		time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.TrimSpace(string(want)) {
		t.Errorf("Marshal =\n%s\nwant the docs' sample\n%s", got, want)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 5, 4, 9, 30, 15, 250_000_000, time.UTC)
	meta := map[string]any{"job_group": "nightly", "n": 3.0, "tags": []any{"a", true}, "nested": map[string]any{"x": nil}}
	tests := []struct {
		name string
		d    event.Data
		typ  event.Type
		meta map[string]any
	}{
		{"batch.succeeded", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/a", OutputFileURI: "files/out"}, event.TypeBatchSucceeded, meta},
		{"batch.failed numeric", &event.Batch{Type: event.TypeBatchFailed, ID: "batches/a", ErrorCode: "3", ErrorMessage: "bad"}, event.TypeBatchFailed, nil},
		{"batch.failed string", &event.Batch{Type: event.TypeBatchFailed, ID: "batches/a", ErrorCode: "INTERNAL", ErrorMessage: "bad"}, event.TypeBatchFailed, meta},
		{"batch.failed no code", &event.Batch{Type: event.TypeBatchFailed, ID: "batches/a"}, event.TypeBatchFailed, nil},
		{"batch.expired", &event.Batch{Type: event.TypeBatchExpired, ID: "batches/a"}, event.TypeBatchExpired, nil},
		{"batch.cancelled", &event.Batch{Type: event.TypeBatchCancelled, ID: "batches/a"}, event.TypeBatchCancelled, map[string]any{}},
		{"interaction.requires_action", &event.Interaction{Type: event.TypeInteractionRequiresAction, ID: "v1_a"}, event.TypeInteractionRequiresAction, meta},
		{"interaction.completed", &event.Interaction{Type: event.TypeInteractionCompleted, ID: "v1_a"}, event.TypeInteractionCompleted, meta},
		{"interaction.failed", &event.Interaction{Type: event.TypeInteractionFailed, ID: "v1_a", ErrorCode: "-7", ErrorMessage: "x"}, event.TypeInteractionFailed, nil},
		{"interaction.cancelled", &event.Interaction{Type: event.TypeInteractionCancelled, ID: "v1_a"}, event.TypeInteractionCancelled, nil},
		{"video.generated", &event.Video{ID: "op", VideoURI: "https://v", OutputFileURI: "https://o", FileName: "files/f", FileID: "f"},
			event.TypeVideoGenerated, meta},
		{"empty id", &event.Batch{Type: event.TypeBatchExpired}, event.TypeBatchExpired, meta},
		{"unicode and HTML", &event.Batch{Type: event.TypeBatchFailed, ID: "batches/é", ErrorMessage: "<b>&\u2028"}, event.TypeBatchFailed, nil},
		{"ping", &event.Unknown{Type: "webhook.ping", Raw: json.RawMessage(`{"id":"k0h9"}`)}, "webhook.ping", nil},
		{"alias batch.completed", &event.Batch{Type: event.TypeBatchCompleted, ID: "batches/a", OutputFileURI: "files/out"},
			event.TypeBatchCompleted, nil},
		{"legacy batch.completed", &event.Unknown{Type: event.TypeBatchCompleted, Raw: json.RawMessage(`{"id":"batches/a"}`)},
			event.TypeBatchCompleted, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := event.Marshal(tt.d, ts, tt.meta)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			ev, err := event.Parse(body)
			if err != nil {
				t.Fatalf("Parse(%s): %v", body, err)
			}
			if ev.Type != tt.typ || ev.Version != "v1" || !ev.Timestamp.Equal(ts) {
				t.Errorf("envelope = %q %q %v, want %q v1 %v", ev.Type, ev.Version, ev.Timestamp, tt.typ, ts)
			}
			if diff := cmp.Diff(tt.meta, ev.UserMetadata); diff != "" {
				t.Errorf("UserMetadata mismatch (-want +got):\n%s", diff)
			}
			got, err := ev.Decode()
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := tt.d
			if u, ok := tt.d.(*event.Unknown); ok {
				if _, known := event.Lookup(tt.typ); known {
					want, err = (&event.Event{Type: u.Type, Data: u.Raw}).Decode()
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			if b, ok := tt.d.(*event.Batch); ok && b.Type == event.TypeBatchCompleted {
				want = &event.Batch{Type: event.TypeBatchSucceeded, ID: b.ID, OutputFileURI: b.OutputFileURI}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s\nbody: %s", diff, body)
			}
			if tt.meta != nil && !strings.Contains(string(ev.Data), `"user_metadata":`) {
				t.Errorf("user_metadata is not inside data: %s", body)
			}
		})
	}
}

func TestMarshalTimestampInUTC(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 22, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	body, err := event.Marshal(&event.Batch{Type: event.TypeBatchExpired, ID: "b"}, ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"batch.expired","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"b"}}`
	if string(body) != want {
		t.Errorf("Marshal = %s, want %s", body, want)
	}
}

func TestMarshalUnknownCompactsAndSplices(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		raw  string
		meta map[string]any
		want string
	}{
		{"compacted", "{ \"id\" : \"k\" ,\n \"x\": [1, 2] }", nil, `{"id":"k","x":[1,2]}`},
		{"nil raw", "", nil, `{}`},
		{"empty object with metadata", `{}`, map[string]any{"a": "b"}, `{"user_metadata":{"a":"b"}}`},
		{"metadata appended", `{"id":"k"}`, map[string]any{"a": "b"}, `{"id":"k","user_metadata":{"a":"b"}}`},
		{"non-object without metadata", `[1]`, nil, `[1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := event.Marshal(&event.Unknown{Type: "x.y", Raw: json.RawMessage(tt.raw)}, ts, tt.meta)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			ev, err := event.Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			if string(ev.Data) != tt.want {
				t.Errorf("data = %s, want %s", ev.Data, tt.want)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		d       event.Data
		ts      time.Time
		meta    map[string]any
		mention string
	}{
		{"nil data", nil, ts, nil, "nil data"},
		{"typed nil data", (*event.Batch)(nil), ts, nil, "nil data"},
		{"typed nil unknown", (*event.Unknown)(nil), ts, nil, "nil data"},
		{"zero timestamp", &event.Batch{Type: event.TypeBatchExpired, ID: "b"}, time.Time{}, nil, "zero timestamp"},
		{"year beyond RFC 3339", &event.Batch{Type: event.TypeBatchExpired, ID: "b"}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil, "year 10000"},
		{"batch without type", &event.Batch{ID: "b"}, ts, nil, "empty type"},
		{"batch with an interaction type", &event.Batch{Type: event.TypeInteractionFailed, ID: "b"}, ts, nil, "*event.Batch data with type interaction.failed"},
		{"interaction with an unknown type", &event.Interaction{Type: "webhook.ping", ID: "b"}, ts, nil, "*event.Interaction data with type webhook.ping"},
		{"unknown without type", &event.Unknown{Raw: json.RawMessage(`{}`)}, ts, nil, "empty type"},
		{"unknown raw not JSON", &event.Unknown{Type: "x", Raw: json.RawMessage(`{"id":`)}, ts, nil, "not valid JSON"},
		{"metadata with non-object data", &event.Unknown{Type: "x", Raw: json.RawMessage(`"s"`)}, ts, map[string]any{"a": 1}, "got string"},
		{"metadata twice", &event.Unknown{Type: "x", Raw: json.RawMessage(`{"user_metadata":{}}`)}, ts, map[string]any{"a": 1}, "already holds"},
		{"metadata not JSON", &event.Batch{Type: event.TypeBatchExpired, ID: "b"}, ts, map[string]any{"ch": make(chan int)}, "unsupported type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := event.Marshal(tt.d, tt.ts, tt.meta)
			if !errors.Is(err, event.ErrMarshal) {
				t.Fatalf("Marshal = %s, %v; want ErrMarshal", body, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}
