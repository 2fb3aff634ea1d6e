package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/event"
	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks Parse and Decode on arbitrary bodies: no panic, Raw is
// always the input, and the envelope Parse finds agrees with what
// encoding/json sees. Decoded events must survive Marshal, Parse, Decode.
func FuzzParse(f *testing.F) {
	for _, path := range sampleFiles(f) {
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, s := range []string{
		"", "null", "[]", `"x"`, "{}", `{"type":1}`, `{"type":null}`, `{"type":""}`, "{\xff}",
		"{\"type\":\"batch.succeeded\xff\"}",
		`{"type":"batch.failed","data":{"id":"a","error_code":"3"}}`,
		`{"type":"batch.failed","data":{"id":"a","error_code":true}}`,
		`{"\u0074ype":"batch.completed","data":{"i\u0064":"b","user_metadata":{"k":[1,{"x":null}]}}}`,
		`{"type":"a","type":"interaction.failed","user_metadata":{"k":1},"data":{"user_metadata":"s"}}`,
		`{"type":"video.generated","timestamp":"2026-01-01T00:00:00.5+14:00","data":{"file_id":"q"}}`,
		`{"type":"webhook.ping","data":{ "id" : "k", "user_metadata" : {} }}`,
		`{"type":"x","data":` + nested(40) + `}`,
		`{"type":"x","data":{"n":1e400,"s":"}\"{"}}`,
		`{"type":"batch.expired","data":{"ID":"a","id":"b","Id":"c"}}`,
		`{"data":{"id":1,"id":2}}`,
		`{"type":"x","data":{"id":1,"\u0069d":2},"data2":{"id":3,"id":4}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := bytes.Clone(body)
		ev, err := event.Parse(body)
		checkAgainstEncodingJSON(t, body, ev, err)
		if !bytes.Equal(body, in) {
			t.Fatalf("Parse modified its input")
		}
		if err != nil {
			return
		}
		if !bytes.Equal(ev.Raw, body) || (len(body) > 0 && &ev.Raw[0] != &body[0]) {
			t.Fatalf("Raw is not the input")
		}
		_ = ev.String()
		_ = ev.TimestampError()
		d, err := ev.Decode()
		if err != nil {
			if !errors.Is(err, event.ErrInvalidData) {
				t.Fatalf("Decode error %v does not wrap ErrInvalidData", err)
			}
			return
		}
		checkDecoded(t, ev, d)
		checkRoundTrip(t, ev, d)
	})
}

// checkAgainstEncodingJSON compares Parse's result with a plain
// encoding/json decode into a map (exact keys, later duplicates win).
func checkAgainstEncodingJSON(t *testing.T, body []byte, ev *event.Event, err error) {
	t.Helper()
	var top map[string]json.RawMessage
	if jerr := json.Unmarshal(body, &top); jerr != nil || top == nil {
		if !errors.Is(err, event.ErrNotEvent) {
			t.Fatalf("encoding/json sees no object (%v), Parse error = %v", jerr, err)
		}
		return
	}
	// Parse reads data, and finds a repeated key there, only once it has
	// a type.
	dupTop, dupData := repeatedEnvelopeKey(t, body)
	typeErr := errors.Is(err, event.ErrNotEvent)
	if dup := dupTop || dupData && !typeErr; dup != errors.Is(err, event.ErrDuplicateKey) {
		t.Fatalf("an envelope key repeated: %v at the top, %v in data; Parse error = %v", dupTop, dupData, err)
	}
	if errors.Is(err, event.ErrDuplicateKey) {
		return
	}
	typ, present := top["type"]
	switch {
	case !present || string(typ) == "null" || string(typ) == `""`:
		if !errors.Is(err, event.ErrNotEvent) {
			t.Fatalf("type %s: Parse error = %v, want ErrNotEvent (missing type)", typ, err)
		}
		return
	case typ[0] != '"':
		if !errors.Is(err, event.ErrNotEvent) {
			t.Fatalf("type %s: Parse error = %v, want ErrNotEvent (type not a string)", typ, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var wantType string
	if err := json.Unmarshal(typ, &wantType); err != nil {
		t.Fatal(err)
	}
	if string(ev.Type) != wantType {
		t.Fatalf("Type = %q, encoding/json says %q", ev.Type, wantType)
	}
	if !bytes.Equal(ev.Data, top["data"]) {
		t.Fatalf("Data = %q, encoding/json says %q", ev.Data, top["data"])
	}
	var data map[string]json.RawMessage
	wantJob := ""
	if json.Unmarshal(top["data"], &data) == nil {
		_ = json.Unmarshal(data["id"], &wantJob) // a non-string id leaves ""
	}
	if ev.JobID != wantJob {
		t.Fatalf("JobID = %q, encoding/json says %q", ev.JobID, wantJob)
	}
}

func checkDecoded(t *testing.T, ev *event.Event, d event.Data) {
	t.Helper()
	u, unknown := d.(*event.Unknown)
	if _, known := event.Lookup(ev.Type); unknown == known {
		t.Fatalf("type %q decoded to %T", ev.Type, d)
	}
	if unknown && (u.Type != ev.Type || !bytes.Equal(u.Raw, ev.Data)) {
		t.Fatalf("Unknown = %+v, want type %q and the data as sent", u, ev.Type)
	}
	if dataType(d) != ev.Type.Canonical() {
		t.Fatalf("data type = %q, want %q", dataType(d), ev.Type.Canonical())
	}
	if !unknown && dataID(d) != ev.JobID {
		t.Fatalf("decoded ID %q differs from JobID %q", dataID(d), ev.JobID)
	}
}

func dataID(d event.Data) string {
	switch d := d.(type) {
	case *event.Batch:
		return d.ID
	case *event.Interaction:
		return d.ID
	case *event.Video:
		return d.ID
	}
	return ""
}

// checkRoundTrip marshals decoded data again and expects the same values.
func checkRoundTrip(t *testing.T, ev *event.Event, d event.Data) {
	t.Helper()
	if ev.Timestamp.IsZero() || ev.Timestamp.UTC().Year() < 0 || ev.Timestamp.UTC().Year() > 9999 {
		return
	}
	meta := ev.UserMetadata
	if _, ok := d.(*event.Unknown); ok {
		meta = nil // its Raw already carries any data.user_metadata
	}
	body, err := event.Marshal(d, ev.Timestamp, meta)
	if err != nil {
		t.Fatalf("Marshal of decoded %T: %v", d, err)
	}
	again, err := event.Parse(body)
	if err != nil {
		t.Fatalf("Parse of Marshal's output %q: %v", body, err)
	}
	d2, err := again.Decode()
	if err != nil {
		t.Fatalf("Decode of Marshal's output %q: %v", body, err)
	}
	want := d
	if u, ok := d.(*event.Unknown); ok {
		var buf bytes.Buffer
		if len(u.Raw) == 0 {
			buf.WriteString("{}")
		} else if err := json.Compact(&buf, u.Raw); err != nil {
			t.Fatal(err)
		}
		want = &event.Unknown{Type: u.Type, Raw: buf.Bytes()}
	}
	if diff := cmp.Diff(want, d2); diff != "" {
		t.Fatalf("round trip mismatch (-want +got):\n%s\nbody: %s", diff, body)
	}
	if !again.Timestamp.Equal(ev.Timestamp) {
		t.Fatalf("Timestamp %v became %v", ev.Timestamp, again.Timestamp)
	}
	if _, ok := d.(*event.Unknown); !ok {
		if diff := cmp.Diff(meta, again.UserMetadata); diff != "" {
			t.Fatalf("UserMetadata mismatch (-want +got):\n%s", diff)
		}
	}
	if strings.Contains(string(body), "\n") {
		t.Fatalf("Marshal wrote a newline: %q", body)
	}
}

// repeatedEnvelopeKey reports, with encoding/json's tokenizer, whether one
// of the fields Parse reads appears twice at its level: type, version,
// timestamp, data or user_metadata at the top; id or user_metadata in data
// (when data is an object). body is a valid JSON object.
func repeatedEnvelopeKey(t *testing.T, body []byte) (top, data bool) {
	t.Helper()
	keys := func(obj []byte, names ...string) (map[string]int, map[string]json.RawMessage) {
		dec := json.NewDecoder(bytes.NewReader(obj))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return nil, nil
		}
		seen, vals := map[string]int{}, map[string]json.RawMessage{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			k := tok.(string)
			for _, n := range names {
				if k == n {
					seen[k]++
					vals[k] = v
				}
			}
		}
		return seen, vals
	}
	seen, vals := keys(body, "type", "version", "timestamp", "data", "user_metadata")
	for _, n := range seen {
		top = top || n > 1
	}
	if top {
		return true, false
	}
	seen, _ = keys(vals["data"], "id", "user_metadata")
	for _, n := range seen {
		data = data || n > 1
	}
	return false, data
}
