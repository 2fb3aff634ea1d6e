package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// sampleFiles returns the sample deliveries copied from the shared testdata.
func sampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found %d sample files, want at least 8", len(files))
	}
	return files
}

// goldenView is what the golden files record for each sample: everything
// Parse and Decode derive from it.
type goldenView struct {
	Type         event.Type
	Version      string
	Timestamp    string
	JobID        string
	UserMetadata map[string]any
	DataType     string
	Data         event.Data
	Location     string `json:",omitempty"`
	Succeeded    bool
	Failed       bool
	Terminal     bool
	String       string
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, path := range sampleFiles(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := event.Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !bytes.Equal(ev.Raw, body) {
				t.Errorf("Raw differs from the file")
			}
			if err := ev.TimestampError(); err != nil {
				t.Errorf("TimestampError: %v", err)
			}
			d, err := ev.Decode()
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if _, ok := d.(*event.Unknown); ok {
				t.Errorf("sample decoded to *Unknown")
			}
			view := goldenView{
				Type: ev.Type, Version: ev.Version, Timestamp: ev.Timestamp.Format(time.RFC3339Nano),
				JobID: ev.JobID, UserMetadata: ev.UserMetadata, DataType: typeName(d), Data: d,
				Succeeded: ev.Succeeded(), Failed: ev.Failed(), Terminal: ev.IsTerminal(), String: ev.String(),
			}
			if v, ok := d.(*event.VideoGenerated); ok {
				view.Location = v.Location()
			}
			got, err := json.MarshalIndent(view, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("golden mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func typeName(d event.Data) string {
	switch d.(type) {
	case *event.BatchSucceeded:
		return "BatchSucceeded"
	case *event.BatchFailed:
		return "BatchFailed"
	case *event.BatchExpired:
		return "BatchExpired"
	case *event.BatchCancelled:
		return "BatchCancelled"
	case *event.InteractionRequiresAction:
		return "InteractionRequiresAction"
	case *event.InteractionCompleted:
		return "InteractionCompleted"
	case *event.InteractionFailed:
		return "InteractionFailed"
	case *event.InteractionCancelled:
		return "InteractionCancelled"
	case *event.VideoGenerated:
		return "VideoGenerated"
	case *event.Unknown:
		return "Unknown"
	}
	return "?"
}

// nested returns depth levels of arrays around an empty array's inside.
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		wantErr error
		mention string // a fragment the message must carry
	}{
		{"empty", "", event.ErrNotObject, "unexpected end"},
		{"whitespace", " \n\t", event.ErrNotObject, "unexpected end"},
		{"null", "null", event.ErrNotObject, "got null"},
		{"array", `[{"type":"batch.succeeded"}]`, event.ErrNotObject, "got array"},
		{"string", `"batch.succeeded"`, event.ErrNotObject, "got string"},
		{"number", "42", event.ErrNotObject, "got number"},
		{"boolean", "true", event.ErrNotObject, "got boolean"},
		{"truncated", `{"type":"batch.succeeded","data":{"id":"b"`, event.ErrNotObject, "unexpected end"},
		{"trailing garbage", `{"type":"batch.succeeded"} x`, event.ErrNotObject, "after top-level value"},
		{"two objects", `{"type":"a"}{"type":"b"}`, event.ErrNotObject, "after top-level value"},
		{"invalid UTF-8 outside strings", "{\xff\"type\":\"batch.succeeded\"}", event.ErrNotObject, "invalid character"},
		{"deeply nested data", `{"type":"batch.succeeded","data":{"x":` + nested(10001) + `}}`, event.ErrNotObject, "deeper than 10000"},
		{"empty object", `{}`, event.ErrMissingType, "missing type"},
		{"no type", `{"version":"v1","data":{"id":"batches/a"}}`, event.ErrMissingType, "missing type"},
		{"type only in data", `{"data":{"type":"batch.succeeded"}}`, event.ErrMissingType, "missing type"},
		{"type keys are case-sensitive", `{"Type":"batch.succeeded"}`, event.ErrMissingType, "missing type"},
		{"null type", `{"type":null}`, event.ErrMissingType, "missing type"},
		{"empty type", `{"type":""}`, event.ErrMissingType, "empty"},
		{"two types", `{"type":"batch.failed","type":"batch.succeeded"}`, event.ErrDuplicateKey, "type appears twice"},
		{"a second, null type", `{"type":"batch.succeeded","type":null}`, event.ErrDuplicateKey, "type appears twice"},
		{"a second type, escaped", `{"type":"batch.failed","\u0074ype":"batch.succeeded"}`, event.ErrDuplicateKey, "type appears twice"},
		{"two versions", `{"type":"batch.failed","version":"v1","version":"v2"}`, event.ErrDuplicateKey, "version appears twice"},
		{"two timestamps", `{"type":"batch.failed","timestamp":"2026-01-01T00:00:00Z","timestamp":"2027-01-01T00:00:00Z"}`, event.ErrDuplicateKey, "timestamp appears twice"},
		{"two data", `{"type":"batch.failed","data":{"id":"a"},"data":{"id":"b"}}`, event.ErrDuplicateKey, "data appears twice"},
		{"two user_metadata", `{"type":"batch.failed","user_metadata":{},"user_metadata":{"a":1}}`, event.ErrDuplicateKey, "user_metadata appears twice"},
		{"two job ids", `{"type":"batch.failed","data":{"id":"a","id":"b"}}`, event.ErrDuplicateKey, "data.id appears twice"},
		{"two user_metadata in data", `{"type":"batch.failed","data":{"user_metadata":{},"user_metadata":{}}}`, event.ErrDuplicateKey, "data.user_metadata appears twice"},
		{"number type", `{"type":1}`, event.ErrInvalidType, "got number"},
		{"boolean type", `{"type":true}`, event.ErrInvalidType, "got boolean"},
		{"array type", `{"type":["batch.succeeded"]}`, event.ErrInvalidType, "got array"},
		{"object type", `{"type":{"name":"batch.succeeded"}}`, event.ErrInvalidType, "got object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.Parse([]byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
			}
			if ev != nil {
				t.Errorf("Parse returned an event with its error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "event: ") || !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q: want prefix %q and mention of %q", msg, "event: ", tt.mention)
			}
			if len(msg) > 200 {
				t.Errorf("error is %d bytes long; it must not echo the body", len(msg))
			}
		})
	}
}

// parsed is the part of an Event a table test states.
type parsed struct {
	Type         event.Type
	Version      string
	Timestamp    time.Time
	JobID        string
	UserMetadata map[string]any
	Data         string
}

func TestParseTolerates(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		body string
		want parsed
	}{
		{
			name: "docs sample",
			body: `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`,
			want: parsed{Type: event.TypeBatchSucceeded, Version: "v1", Timestamp: ts, JobID: "batch_123456",
				Data: `{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}`},
		},
		{
			name: "whitespace everywhere",
			body: " \n{ \"type\" : \"batch.failed\" ,\n\t\"data\" : { \"id\" : \"batches/a\" } } \n",
			want: parsed{Type: event.TypeBatchFailed, JobID: "batches/a", Data: `{ "id" : "batches/a" }`},
		},
		{
			name: "unknown type and fields",
			body: `{"type":"webhook.ping","version":"v2","extra":[1,{"a":"}"}],"data":{"id":"k0h9","new":true}}`,
			want: parsed{Type: "webhook.ping", Version: "v2", JobID: "k0h9", Data: `{"id":"k0h9","new":true}`},
		},
		{
			name: "escaped key and type",
			body: `{"\u0074ype":"batch.succ\u0065eded","data":{"i\u0064":"batches/\u00e9"}}`,
			want: parsed{Type: event.TypeBatchSucceeded, JobID: "batches/é", Data: `{"i\u0064":"batches/\u00e9"}`},
		},
		{
			name: "repeated keys Parse does not read",
			body: `{"type":"batch.expired","x":1,"x":2,"data":{"id":"b","state":"A","state":"B"}}`,
			want: parsed{Type: event.TypeBatchExpired, JobID: "b", Data: `{"id":"b","state":"A","state":"B"}`},
		},
		{
			name: "fields of the wrong kind",
			body: `{"type":"batch.succeeded","version":1,"timestamp":1769083200,"user_metadata":[1],"data":{"id":7,"user_metadata":"x"}}`,
			want: parsed{Type: event.TypeBatchSucceeded, Data: `{"id":7,"user_metadata":"x"}`},
		},
		{
			name: "data not an object",
			body: `{"type":"batch.succeeded","data":"batches/a"}`,
			want: parsed{Type: event.TypeBatchSucceeded, Data: `"batches/a"`},
		},
		{
			name: "null data",
			body: `{"type":"batch.succeeded","data":null}`,
			want: parsed{Type: event.TypeBatchSucceeded, Data: `null`},
		},
		{
			name: "bad timestamp keeps the rest",
			body: `{"type":"batch.succeeded","timestamp":"22/01/2026 12:00","data":{"id":"a"}}`,
			want: parsed{Type: event.TypeBatchSucceeded, JobID: "a", Data: `{"id":"a"}`},
		},
		{
			name: "timestamp with offset and nanoseconds",
			body: `{"type":"batch.succeeded","timestamp":"2026-01-22T13:00:00.123456789+01:00"}`,
			want: parsed{Type: event.TypeBatchSucceeded, Timestamp: ts.Add(123456789 * time.Nanosecond)},
		},
		{
			name: "user_metadata in data",
			body: `{"type":"interaction.completed","data":{"id":"v1_a","user_metadata":{"k":"v","n":2}}}`,
			want: parsed{Type: event.TypeInteractionCompleted, JobID: "v1_a", UserMetadata: map[string]any{"k": "v", "n": 2.0},
				Data: `{"id":"v1_a","user_metadata":{"k":"v","n":2}}`},
		},
		{
			name: "user_metadata at top level",
			body: `{"type":"interaction.completed","user_metadata":{"k":"top"},"data":{"id":"v1_a"}}`,
			want: parsed{Type: event.TypeInteractionCompleted, JobID: "v1_a", UserMetadata: map[string]any{"k": "top"}, Data: `{"id":"v1_a"}`},
		},
		{
			name: "user_metadata in data wins over top level",
			body: `{"type":"interaction.completed","user_metadata":{"k":"top"},"data":{"id":"v1_a","user_metadata":{"k":"data"}}}`,
			want: parsed{Type: event.TypeInteractionCompleted, JobID: "v1_a", UserMetadata: map[string]any{"k": "data"},
				Data: `{"id":"v1_a","user_metadata":{"k":"data"}}`},
		},
		{
			name: "user_metadata in data not an object falls back to top level",
			body: `{"type":"interaction.completed","user_metadata":{"k":"top"},"data":{"user_metadata":null}}`,
			want: parsed{Type: event.TypeInteractionCompleted, UserMetadata: map[string]any{"k": "top"}, Data: `{"user_metadata":null}`},
		},
		{
			name: "user_metadata with a number beyond float64 is dropped",
			body: `{"type":"interaction.completed","data":{"id":"v1_a","user_metadata":{"n":1e400}}}`,
			want: parsed{Type: event.TypeInteractionCompleted, JobID: "v1_a", Data: `{"id":"v1_a","user_metadata":{"n":1e400}}`},
		},
		{
			name: "invalid UTF-8 in type",
			body: "{\"type\":\"batch.succeeded\xff\"}",
			want: parsed{Type: "batch.succeeded\uFFFD"},
		},
		{
			name: "invalid UTF-8 in data and metadata",
			body: "{\"type\":\"batch.succeeded\",\"data\":{\"id\":\"b\xc3\",\"user_metadata\":{\"k\":\"\xfe\"}}}",
			want: parsed{Type: event.TypeBatchSucceeded, JobID: "b\uFFFD", UserMetadata: map[string]any{"k": "\uFFFD"},
				Data: "{\"id\":\"b\xc3\",\"user_metadata\":{\"k\":\"\xfe\"}}"},
		},
		{
			name: "deeply nested data within the limit",
			body: `{"type":"batch.succeeded","data":{"deep":` + nested(9000) + `,"id":"batches/deep"}}`,
			want: parsed{Type: event.TypeBatchSucceeded, JobID: "batches/deep", Data: `{"deep":` + nested(9000) + `,"id":"batches/deep"}`},
		},
		{
			name: "strings holding braces and escaped quotes",
			body: `{"data":{"note":"}\"{[","id":"batches/q"},"type":"batch.expired"}`,
			want: parsed{Type: event.TypeBatchExpired, JobID: "batches/q", Data: `{"note":"}\"{[","id":"batches/q"}`},
		},
		{
			name: "1 MiB body",
			body: `{"type":"batch.succeeded","data":{"pad":"` + big + `","id":"batches/big"}}`,
			want: parsed{Type: event.TypeBatchSucceeded, JobID: "batches/big", Data: `{"pad":"` + big + `","id":"batches/big"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tt.body)
			ev, err := event.Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !bytes.Equal(ev.Raw, body) || &ev.Raw[0] != &body[0] {
				t.Errorf("Raw is not the body given to Parse")
			}
			if ev.ID != "" {
				t.Errorf("ID = %q, want empty: the body holds no delivery id", ev.ID)
			}
			got := parsed{Type: ev.Type, Version: ev.Version, Timestamp: ev.Timestamp, JobID: ev.JobID,
				UserMetadata: ev.UserMetadata, Data: string(ev.Data)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
			if _, err := ev.Decode(); err != nil && !errors.Is(err, event.ErrInvalidData) {
				t.Errorf("Decode error %v does not wrap ErrInvalidData", err)
			}
		})
	}
}

func TestParseDataAliasesBody(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"batch.succeeded","data":{"id":"batches/a"}}`)
	ev, err := event.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(body, []byte(`{"id"`))
	if &ev.Data[0] != &body[start] {
		t.Errorf("Data is a copy; want a sub-slice of the body")
	}
}

func TestTimestampError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"RFC 3339", `{"type":"a","timestamp":"2026-01-22T12:00:00Z"}`, true},
		{"RFC 3339 with fraction", `{"type":"a","timestamp":"2026-01-22T12:00:00.5-07:00"}`, true},
		{"absent", `{"type":"a"}`, false},
		{"number", `{"type":"a","timestamp":1769083200}`, false},
		{"date only", `{"type":"a","timestamp":"2026-01-22"}`, false},
		{"space separator", `{"type":"a","timestamp":"2026-01-22 12:00:00Z"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.Parse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			terr := ev.TimestampError()
			if tt.ok {
				if terr != nil || ev.Timestamp.IsZero() {
					t.Errorf("TimestampError = %v, Timestamp = %v; want nil and a time", terr, ev.Timestamp)
				}
				return
			}
			if !errors.Is(terr, event.ErrInvalidTimestamp) || !ev.Timestamp.IsZero() {
				t.Errorf("TimestampError = %v, Timestamp = %v; want ErrInvalidTimestamp and zero", terr, ev.Timestamp)
			}
		})
	}
	var manual event.Event
	if err := manual.TimestampError(); !errors.Is(err, event.ErrInvalidTimestamp) {
		t.Errorf("TimestampError of an Event with no Raw = %v, want ErrInvalidTimestamp", err)
	}
}

func TestTypePredicates(t *testing.T) {
	t.Parallel()
	type preds struct{ Known, Succeeded, Failed, Cancelled, Terminal bool }
	tests := []struct {
		typ       event.Type
		canonical event.Type
		want      preds
	}{
		{event.TypeBatchSucceeded, event.TypeBatchSucceeded, preds{true, true, false, false, true}},
		{event.TypeBatchCompleted, event.TypeBatchSucceeded, preds{true, true, false, false, true}},
		{event.TypeBatchFailed, event.TypeBatchFailed, preds{true, false, true, false, true}},
		{event.TypeBatchExpired, event.TypeBatchExpired, preds{true, false, true, false, true}},
		{event.TypeBatchCancelled, event.TypeBatchCancelled, preds{true, false, false, true, true}},
		{event.TypeInteractionRequiresAction, event.TypeInteractionRequiresAction, preds{true, false, false, false, false}},
		{event.TypeInteractionCompleted, event.TypeInteractionCompleted, preds{true, true, false, false, true}},
		{event.TypeInteractionFailed, event.TypeInteractionFailed, preds{true, false, true, false, true}},
		{event.TypeInteractionCancelled, event.TypeInteractionCancelled, preds{true, false, false, true, true}},
		{event.TypeVideoGenerated, event.TypeVideoGenerated, preds{true, true, false, false, true}},
		{"webhook.ping", "webhook.ping", preds{}},
		{"BATCH.SUCCEEDED", "BATCH.SUCCEEDED", preds{}},
		{"", "", preds{}},
	}
	if got, want := len(event.KnownTypes()), len(tests)-3; got != want {
		t.Errorf("KnownTypes has %d types, the table %d", got, want)
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			t.Parallel()
			got := preds{tt.typ.Known(), tt.typ.Succeeded(), tt.typ.Failed(), tt.typ.Cancelled(), tt.typ.IsTerminal()}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("predicates (-want +got):\n%s", diff)
			}
			if c := tt.typ.Canonical(); c != tt.canonical {
				t.Errorf("Canonical = %q, want %q", c, tt.canonical)
			}
			ev := &event.Event{Type: tt.typ}
			gotEv := preds{tt.typ.Known(), ev.Succeeded(), ev.Failed(), ev.Cancelled(), ev.IsTerminal()}
			if diff := cmp.Diff(tt.want, gotEv); diff != "" {
				t.Errorf("Event predicates (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStringLeavesOutUserMetadata(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-customer-42"
	body := []byte(`{"type":"interaction.completed","version":"v1","timestamp":"2026-06-01T10:21:05Z",` +
		`"user_metadata":{"top":"` + secret + `"},"data":{"id":"v1_abc","user_metadata":{"customer":"` + secret + `"}}}`)
	ev, err := event.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	ev.ID = "msg_2b"
	if got, want := ev.String(), "event interaction.completed id=msg_2b job=v1_abc time=2026-06-01T10:21:05Z"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("received", "event", ev)
	line := buf.String()
	for _, want := range []string{"event.type=interaction.completed", "event.id=msg_2b", "event.job=v1_abc", "event.time=2026-06-01T10:21:05"} {
		if !strings.Contains(line, want) {
			t.Errorf("slog line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, secret) || strings.Contains(ev.String(), secret) {
		t.Errorf("user metadata leaked into logs: %q", line)
	}
}

func TestStringQuotesAndCuts(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200)
	tests := []struct {
		name string
		ev   *event.Event
		want string
	}{
		{"nil", nil, "event(nil)"},
		{"no timestamp", &event.Event{Type: "batch.failed", JobID: "batches/a"}, "event batch.failed job=batches/a time=unknown"},
		{"non-UTC timestamp printed in UTC", &event.Event{Type: "batch.failed", Timestamp: time.Date(2026, 1, 1, 1, 0, 0, 5, time.FixedZone("x", 3600))},
			"event batch.failed time=2026-01-01T00:00:00.000000005Z"},
		{"newline in type", &event.Event{Type: "a\nforged=1", JobID: "b c"}, `event "a\nforged=1" job="b c" time=unknown`},
		{"long job id", &event.Event{Type: "a", JobID: long}, `event a job="` + strings.Repeat("é", 64) + `..." time=unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.ev.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
