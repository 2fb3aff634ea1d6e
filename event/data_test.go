package event_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/google/go-cmp/cmp"
)

func mustParse(t *testing.T, body string) *event.Event {
	t.Helper()
	ev, err := event.Parse([]byte(body))
	if err != nil {
		t.Fatalf("Parse(%s): %v", body, err)
	}
	return ev
}

// dataType is the type Marshal writes for d.
func dataType(d event.Data) event.Type {
	switch d := d.(type) {
	case *event.Batch:
		return d.Type
	case *event.Interaction:
		return d.Type
	case *event.Video:
		return event.TypeVideoGenerated
	case *event.Unknown:
		return d.Type
	}
	return ""
}

func TestDecodeVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want event.Data
	}{
		{"batch.succeeded", `{"type":"batch.succeeded","data":{"id":"batch_123456","output_file_uri":"gs://b/r.jsonl"}}`,
			&event.Batch{Type: event.TypeBatchSucceeded, ID: "batch_123456", OutputFileURI: "gs://b/r.jsonl"}},
		{"batch.completed is an alias", `{"type":"batch.completed","data":{"id":"batches/a","output_file_uri":"files/r"}}`,
			&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/a", OutputFileURI: "files/r"}},
		{"batch.failed numeric code", `{"type":"batch.failed","data":{"id":"batches/a","error_code":3,"error_message":"bad line"}}`,
			&event.Batch{Type: event.TypeBatchFailed, ID: "batches/a", ErrorCode: "3", ErrorMessage: "bad line"}},
		{"batch.failed string code", `{"type":"batch.failed","data":{"id":"batches/a","error_code":"INVALID_ARGUMENT"}}`,
			&event.Batch{Type: event.TypeBatchFailed, ID: "batches/a", ErrorCode: "INVALID_ARGUMENT"}},
		{"batch.failed null code", `{"type":"batch.failed","data":{"id":"batches/a","error_code":null}}`,
			&event.Batch{Type: event.TypeBatchFailed, ID: "batches/a"}},
		{"batch.failed number text kept", `{"type":"batch.failed","data":{"id":"batches/a","error_code":-1.5e3}}`,
			&event.Batch{Type: event.TypeBatchFailed, ID: "batches/a", ErrorCode: "-1.5e3"}},
		{"batch.expired", `{"type":"batch.expired","data":{"id":"batches/a"}}`, &event.Batch{Type: event.TypeBatchExpired, ID: "batches/a"}},
		{"batch.cancelled", `{"type":"batch.cancelled","data":{"id":"batches/a"}}`, &event.Batch{Type: event.TypeBatchCancelled, ID: "batches/a"}},
		{"interaction.requires_action", `{"type":"interaction.requires_action","data":{"id":"v1_a","user_metadata":{"k":1}}}`,
			&event.Interaction{Type: event.TypeInteractionRequiresAction, ID: "v1_a"}},
		{"interaction.completed", `{"type":"interaction.completed","data":{"id":"v1_a"}}`, &event.Interaction{Type: event.TypeInteractionCompleted, ID: "v1_a"}},
		{"interaction.failed", `{"type":"interaction.failed","data":{"id":"v1_a","error_code":"INTERNAL","error_message":"boom"}}`,
			&event.Interaction{Type: event.TypeInteractionFailed, ID: "v1_a", ErrorCode: "INTERNAL", ErrorMessage: "boom"}},
		{"interaction.cancelled", `{"type":"interaction.cancelled","data":{"id":"v1_a"}}`, &event.Interaction{Type: event.TypeInteractionCancelled, ID: "v1_a"}},
		{"video.generated docs", `{"type":"video.generated","data":{"id":"op","output_file_uri":"https://x/files/a:download","file_name":"files/a"}}`,
			&event.Video{ID: "op", OutputFileURI: "https://x/files/a:download", FileName: "files/a"}},
		{"video.generated live", `{"type":"video.generated","data":{"id":"op","video_uri":"https://x/files/b:download","file_id":"b"}}`,
			&event.Video{ID: "op", VideoURI: "https://x/files/b:download", FileID: "b"}},
		{"absent data", `{"type":"batch.expired"}`, &event.Batch{Type: event.TypeBatchExpired}},
		{"null data", `{"type":"batch.expired","data":null}`, &event.Batch{Type: event.TypeBatchExpired}},
		{"unknown fields ignored", `{"type":"batch.expired","data":{"id":"b","state":"EXPIRED","n":[1]}}`, &event.Batch{Type: event.TypeBatchExpired, ID: "b"}},
		{"keys are case-sensitive, as in Parse", `{"type":"batch.expired","data":{"ID":"b"}}`, &event.Batch{Type: event.TypeBatchExpired}},
		{"escaped keys", `{"type":"batch.succeeded","data":{"\u0069d":"b","output_file_ur\u0069":"u"}}`,
			&event.Batch{Type: event.TypeBatchSucceeded, ID: "b", OutputFileURI: "u"}},
		{"later duplicates win", `{"type":"batch.failed","data":{"id":"b","error_code":1,"error_code":"X"}}`,
			&event.Batch{Type: event.TypeBatchFailed, ID: "b", ErrorCode: "X"}},
		{"null fields stay empty", `{"type":"batch.failed","data":{"id":null,"error_message":null}}`, &event.Batch{Type: event.TypeBatchFailed}},
		{"unknown type", `{"type":"webhook.ping","data":{"id":"k0h9"}}`,
			&event.Unknown{Type: "webhook.ping", Raw: json.RawMessage(`{"id":"k0h9"}`)}},
		{"unknown type with odd data", `{"type":"job.exploded","data":[1,2]}`,
			&event.Unknown{Type: "job.exploded", Raw: json.RawMessage(`[1,2]`)}},
		{"unknown type without data", `{"type":"job.exploded"}`, &event.Unknown{Type: "job.exploded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := mustParse(t, tt.body)
			got, err := ev.Decode()
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
			if _, ok := event.Lookup(ev.Type); ok && dataType(got) != ev.Type.Canonical() {
				t.Errorf("data type = %q, want %q", dataType(got), ev.Type.Canonical())
			}
		})
	}
}

func TestDecodeInvalidData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, mention string
	}{
		{"data is a string", `{"type":"batch.succeeded","data":"batches/a"}`, "data: got string, want an object"},
		{"data is an array", `{"type":"batch.succeeded","data":[{"id":"a"}]}`, "data: got array, want an object"},
		{"id is a number", `{"type":"batch.succeeded","data":{"id":7}}`, "id: got number, want a string"},
		{"uri is an object", `{"type":"video.generated","data":{"id":"op","video_uri":{"u":"x"}}}`, "video_uri: got object, want a string"},
		{"error_code is a boolean", `{"type":"batch.failed","data":{"id":"a","error_code":true}}`, "error_code: got boolean, want a number or a string"},
		{"error_code is an object", `{"type":"interaction.failed","data":{"id":"a","error_code":{"code":3}}}`, "error_code: got object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := mustParse(t, tt.body)
			d, err := ev.Decode()
			if !errors.Is(err, event.ErrInvalidData) {
				t.Fatalf("Decode = %v, %v; want ErrInvalidData", d, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if _, err := event.As[*event.Batch](ev); !errors.Is(err, event.ErrInvalidData) {
				t.Errorf("As error = %v, want ErrInvalidData", err)
			}
		})
	}
}

func TestDecodeNil(t *testing.T) {
	t.Parallel()
	var ev *event.Event
	if d, err := ev.Decode(); err == nil {
		t.Errorf("Decode of nil *Event = %v, want an error", d)
	}
}

func TestDecodeHandBuiltEvent(t *testing.T) {
	t.Parallel()
	ok := &event.Event{Type: event.TypeBatchExpired, Data: json.RawMessage(" {\"id\": \"b\"} ")}
	if d, err := ok.Decode(); err != nil || d.(*event.Batch).ID != "b" {
		t.Errorf("Decode = %v, %v; want ID b", d, err)
	}
	bad := &event.Event{Type: event.TypeBatchExpired, Data: json.RawMessage(`{"id":"b"`)}
	if d, err := bad.Decode(); !errors.Is(err, event.ErrInvalidData) {
		t.Errorf("Decode of truncated data = %v, %v; want ErrInvalidData", d, err)
	}
}

func TestAs(t *testing.T) {
	t.Parallel()
	failed := mustParse(t, `{"type":"batch.failed","data":{"id":"batches/a","error_code":3}}`)
	completed := mustParse(t, `{"type":"batch.completed","data":{"id":"batches/b"}}`)
	ping := mustParse(t, `{"type":"webhook.ping","data":{"id":"k0h9"}}`)

	t.Run("match", func(t *testing.T) {
		t.Parallel()
		f, err := event.As[*event.Batch](failed)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/a", ErrorCode: "3"}, f); diff != "" {
			t.Errorf("As mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("alias", func(t *testing.T) {
		t.Parallel()
		s, err := event.As[*event.Batch](completed)
		if err != nil || s.ID != "batches/b" {
			t.Errorf("As[*BatchSucceeded](batch.completed) = %v, %v", s, err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		u, err := event.As[*event.Unknown](ping)
		if err != nil || u.Type != "webhook.ping" {
			t.Errorf("As[*Unknown](ping) = %v, %v", u, err)
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		t.Parallel()
		s, err := event.As[*event.Interaction](failed)
		if !errors.Is(err, event.ErrTypeMismatch) || s != nil {
			t.Fatalf("As = %v, %v; want nil and ErrTypeMismatch", s, err)
		}
		want := "event: data type mismatch: batch.failed event decodes to *event.Batch, not *event.Interaction"
		if err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
	})
	t.Run("mismatch on unknown", func(t *testing.T) {
		t.Parallel()
		if _, err := event.As[*event.Batch](ping); !errors.Is(err, event.ErrTypeMismatch) {
			t.Errorf("As = %v, want ErrTypeMismatch", err)
		}
	})
	t.Run("Data interface", func(t *testing.T) {
		t.Parallel()
		d, err := event.As[event.Data](failed)
		if err != nil || dataType(d) != event.TypeBatchFailed {
			t.Errorf("As[Data] = %v, %v", d, err)
		}
	})
}

// error_code is kept as sent, number or string, and Marshal writes a code
// that is a JSON number as a number.
func TestErrorCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		json     string
		want     string
		wantJSON string // "" when Marshal leaves it out
	}{
		{`3`, "3", `3`},
		{`"3"`, "3", `3`},
		{`-14`, "-14", `-14`},
		{`3.0`, "3.0", `3.0`},
		{`1e2`, "1e2", `1e2`},
		{`"INTERNAL"`, "INTERNAL", `"INTERNAL"`},
		{`"RESOURCE_EXHAUSTED: quota"`, "RESOURCE_EXHAUSTED: quota", `"RESOURCE_EXHAUSTED: quota"`},
		{`"03"`, "03", `"03"`},
		{`" 3"`, " 3", `" 3"`},
		{`"3 "`, "3 ", `"3 "`},
		{`"-"`, "-", `"-"`},
		{`""`, "", ``},
		{`99999999999999999999999`, "99999999999999999999999", `99999999999999999999999`},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			t.Parallel()
			ev := mustParse(t, `{"type":"batch.failed","data":{"id":"b","error_code":`+tt.json+`}}`)
			d, err := event.As[*event.Batch](ev)
			if err != nil {
				t.Fatalf("As: %v", err)
			}
			if d.ErrorCode != tt.want {
				t.Errorf("code = %q, want %q", d.ErrorCode, tt.want)
			}
			out, err := event.Marshal(d, time.Unix(0, 0), nil)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			want := `"data":{"id":"b"}`
			if tt.wantJSON != "" {
				want = `"data":{"id":"b","error_code":` + tt.wantJSON + `}`
			}
			if !strings.Contains(string(out), want) {
				t.Errorf("Marshal = %s, want it to hold %s", out, want)
			}
		})
	}
}

func TestErrorCodeDecodeErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`true`, `{"code":3}`, `[3]`} {
		ev := mustParse(t, `{"type":"interaction.failed","data":{"id":"b","error_code":`+in+`}}`)
		d, err := ev.Decode()
		if !errors.Is(err, event.ErrInvalidData) || !strings.Contains(err.Error(), "error_code: got ") {
			t.Errorf("Decode(%s) = %v, %v; want an ErrInvalidData error_code error", in, d, err)
		}
	}
}

func TestVideoLocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    event.Video
		want string
	}{
		{"video_uri first", event.Video{VideoURI: "https://v", OutputFileURI: "https://o", FileName: "files/n", FileID: "i"}, "https://v"},
		{"then output_file_uri", event.Video{OutputFileURI: "https://o", FileName: "files/n", FileID: "i"}, "https://o"},
		{"then file_name", event.Video{FileName: "files/n", FileID: "i"}, "files/n"},
		{"file_name without prefix", event.Video{FileName: "n"}, "files/n"},
		{"then file_id", event.Video{FileID: "i"}, "files/i"},
		{"file_id with prefix", event.Video{FileID: "files/i"}, "files/i"},
		{"bare prefix skipped", event.Video{FileName: "files/", FileID: "i"}, "files/i"},
		{"nothing", event.Video{ID: "op"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.v.Location(); got != tt.want {
				t.Errorf("Location() = %q, want %q", got, tt.want)
			}
		})
	}
}
