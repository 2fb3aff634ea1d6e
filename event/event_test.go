package event_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
				String: ev.String(),
			}
			ti, _ := event.Lookup(ev.Type)
			view.Succeeded, view.Failed, view.Terminal = ti.Succeeded, ti.Failed, ti.Terminal
			if v, ok := d.(*event.Video); ok {
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
	case *event.Batch:
		return "Batch"
	case *event.Interaction:
		return "Interaction"
	case *event.Video:
		return "Video"
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
		{"empty", "", event.ErrNotEvent, "unexpected end"},
		{"whitespace", " \n\t", event.ErrNotEvent, "unexpected end"},
		{"null", "null", event.ErrNotEvent, "got null"},
		{"array", `[{"type":"batch.succeeded"}]`, event.ErrNotEvent, "got array"},
		{"string", `"batch.succeeded"`, event.ErrNotEvent, "got string"},
		{"number", "42", event.ErrNotEvent, "got number"},
		{"boolean", "true", event.ErrNotEvent, "got boolean"},
		{"truncated", `{"type":"batch.succeeded","data":{"id":"b"`, event.ErrNotEvent, "unexpected end"},
		{"trailing garbage", `{"type":"batch.succeeded"} x`, event.ErrNotEvent, "after top-level value"},
		{"two objects", `{"type":"a"}{"type":"b"}`, event.ErrNotEvent, "after top-level value"},
		{"invalid UTF-8 outside strings", "{\xff\"type\":\"batch.succeeded\"}", event.ErrNotEvent, "invalid character"},
		{"deeply nested data", `{"type":"batch.succeeded","data":{"x":` + nested(10001) + `}}`, event.ErrNotEvent, "deeper than 10000"},
		{"empty object", `{}`, event.ErrNotEvent, "missing type"},
		{"no type", `{"version":"v1","data":{"id":"batches/a"}}`, event.ErrNotEvent, "missing type"},
		{"type only in data", `{"data":{"type":"batch.succeeded"}}`, event.ErrNotEvent, "missing type"},
		{"type keys are case-sensitive", `{"Type":"batch.succeeded"}`, event.ErrNotEvent, "missing type"},
		{"null type", `{"type":null}`, event.ErrNotEvent, "missing type"},
		{"empty type", `{"type":""}`, event.ErrNotEvent, "empty"},
		{"two types", `{"type":"batch.failed","type":"batch.succeeded"}`, event.ErrDuplicateKey, "type appears twice"},
		{"a second, null type", `{"type":"batch.succeeded","type":null}`, event.ErrDuplicateKey, "type appears twice"},
		{"a second type, escaped", `{"type":"batch.failed","\u0074ype":"batch.succeeded"}`, event.ErrDuplicateKey, "type appears twice"},
		{"two versions", `{"type":"batch.failed","version":"v1","version":"v2"}`, event.ErrDuplicateKey, "version appears twice"},
		{"two timestamps", `{"type":"batch.failed","timestamp":"2026-01-01T00:00:00Z","timestamp":"2027-01-01T00:00:00Z"}`, event.ErrDuplicateKey, "timestamp appears twice"},
		{"two data", `{"type":"batch.failed","data":{"id":"a"},"data":{"id":"b"}}`, event.ErrDuplicateKey, "data appears twice"},
		{"two user_metadata", `{"type":"batch.failed","user_metadata":{},"user_metadata":{"a":1}}`, event.ErrDuplicateKey, "user_metadata appears twice"},
		{"two job ids", `{"type":"batch.failed","data":{"id":"a","id":"b"}}`, event.ErrDuplicateKey, "data.id appears twice"},
		{"two user_metadata in data", `{"type":"batch.failed","data":{"user_metadata":{},"user_metadata":{}}}`, event.ErrDuplicateKey, "data.user_metadata appears twice"},
		{"number type", `{"type":1}`, event.ErrNotEvent, "got number"},
		{"boolean type", `{"type":true}`, event.ErrNotEvent, "got boolean"},
		{"array type", `{"type":["batch.succeeded"]}`, event.ErrNotEvent, "got array"},
		{"object type", `{"type":{"name":"batch.succeeded"}}`, event.ErrNotEvent, "got object"},
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

func TestTypeTable(t *testing.T) {
	t.Parallel()
	type preds struct {
		Known, Succeeded, Failed, Cancelled, Terminal bool
		Job                                           string
	}
	tests := []struct {
		typ       event.Type
		canonical event.Type
		want      preds
	}{
		{event.TypeBatchSucceeded, event.TypeBatchSucceeded, preds{true, true, false, false, true, "batch"}},
		{event.TypeBatchCompleted, event.TypeBatchSucceeded, preds{true, true, false, false, true, "batch"}},
		{event.TypeBatchFailed, event.TypeBatchFailed, preds{true, false, true, false, true, "batch"}},
		{event.TypeBatchExpired, event.TypeBatchExpired, preds{true, false, true, false, true, "batch"}},
		{event.TypeBatchCancelled, event.TypeBatchCancelled, preds{true, false, false, true, true, "batch"}},
		{event.TypeInteractionRequiresAction, event.TypeInteractionRequiresAction, preds{true, false, false, false, false, "interaction"}},
		{event.TypeInteractionCompleted, event.TypeInteractionCompleted, preds{true, true, false, false, true, "interaction"}},
		{event.TypeInteractionFailed, event.TypeInteractionFailed, preds{true, false, true, false, true, "interaction"}},
		{event.TypeInteractionCancelled, event.TypeInteractionCancelled, preds{true, false, false, true, true, "interaction"}},
		{event.TypeVideoGenerated, event.TypeVideoGenerated, preds{true, true, false, false, true, "video"}},
		{"webhook.ping", "webhook.ping", preds{}},
		{"BATCH.SUCCEEDED", "BATCH.SUCCEEDED", preds{}},
		{"", "", preds{}},
	}
	var listed []event.Type
	for ti := range event.Types() {
		if got, ok := event.Lookup(ti.Type); !ok || got != ti {
			t.Errorf("Lookup(%s) = %+v, %v; want the row Types gave, %+v", ti.Type, got, ok, ti)
		}
		listed = append(listed, ti.Type)
	}
	if got, want := len(listed), len(tests)-3; got != want {
		t.Errorf("Types lists %d types, the test %d", got, want)
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			t.Parallel()
			ti, ok := event.Lookup(tt.typ)
			got := preds{ok, ti.Succeeded, ti.Failed, ti.Cancelled, ti.Terminal, ti.Job}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("table row (-want +got):\n%s", diff)
			}
			if ok != slices.Contains(listed, tt.typ) {
				t.Errorf("Lookup says known = %v; Types lists it: %v", ok, !ok)
			}
			if c := tt.typ.Canonical(); c != tt.canonical || ti.Canonical != tt.canonical || ti.Type != tt.typ {
				t.Errorf("Canonical = %q, row %+v; want %q", c, ti, tt.canonical)
			}
			if n := 0; ti.Terminal {
				for _, b := range []bool{ti.Succeeded, ti.Failed, ti.Cancelled} {
					if b {
						n++
					}
				}
				if n != 1 {
					t.Errorf("a terminal type is %d of succeeded, failed, cancelled; want 1", n)
				}
			}
		})
	}
}

func TestJobKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("j", 2000)
	for _, tc := range []struct {
		e    *event.Event
		want string
	}{
		{&event.Event{Type: event.TypeBatchCompleted, JobID: "batches/1"}, "batch.succeeded\x00batches/1"},
		{&event.Event{Type: event.TypeVideoGenerated, JobID: "models/veo/operations/1"}, "video.generated\x00models/veo/operations/1"},
		{&event.Event{Type: event.TypeInteractionRequiresAction, JobID: "v1_x"}, "interaction.requires_action\x00v1_x"},
		{&event.Event{Type: event.TypeInteractionRequiresAction}, ""},
		// Too long to store: the job ID's SHA-256 stands in for it.
		{&event.Event{Type: event.TypeBatchSucceeded, JobID: long},
			"batch.succeeded\x00sha256:" + fmt.Sprintf("%x", sha256.Sum256([]byte(long)))},
		{&event.Event{Type: event.TypeBatchFailed}, ""},
		{&event.Event{Type: "webhook.ping", JobID: "x"}, ""},
		{nil, ""},
	} {
		if got := event.JobKey(tc.e); got != tc.want {
			t.Errorf("JobKey(%+v) = %q; want %q", tc.e, got, tc.want)
		}
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
