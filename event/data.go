package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalidData reports a data value that does not fit its known type,
	// such as a data that is not an object or an id that is not a string.
	ErrInvalidData = errors.New("event: invalid data")
	// ErrTypeMismatch reports that As was asked for a type the event does
	// not decode to.
	ErrTypeMismatch = errors.New("event: data type mismatch")
)

// Data is the typed content of an event's data object. It is sealed: the
// implementations are *Batch, *Interaction and *Video, one per kind of job,
// and *Unknown for any type this package does not know. Switch on the
// concrete type or use As.
type Data interface {
	// eventType is the type Marshal writes.
	eventType() Type
	// fields lists the data's wire fields for Decode and Marshal.
	fields() []field
}

// field is one wire field of a data struct. Every field is a string on the
// wire except error_code, which may also be a number.
type field struct {
	name string
	dst  *string
	code bool
}

// Batch is the data of every batch event: batch.succeeded (and its alias
// batch.completed), batch.failed, batch.expired and batch.cancelled. The
// fields a type does not carry are empty.
type Batch struct {
	// Type is the event's canonical type, such as TypeBatchFailed
	// (TypeBatchSucceeded when batch.completed was sent; Event.Type keeps
	// what was sent). Marshal writes it, and needs it to be a batch type.
	Type          Type   `json:"-"`
	ID            string `json:"id"`                        // e.g. "batches/abc"
	OutputFileURI string `json:"output_file_uri,omitempty"` // batch.succeeded: where the results are
	// ErrorCode is batch.failed's error_code. Gemini has sent it both as
	// a number (3) and as a string ("INTERNAL"): it holds the text as
	// sent, without quotes, and Marshal writes a code that is a JSON
	// number as a number.
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"` // batch.failed
}

// Interaction is the data of every interaction event:
// interaction.requires_action, interaction.completed, interaction.failed
// and interaction.cancelled.
type Interaction struct {
	// Type is the event's type, such as TypeInteractionFailed. Marshal
	// writes it, and needs it to be an interaction type.
	Type Type   `json:"-"`
	ID   string `json:"id"` // the interaction, e.g. "v1_ChdQ..."
	// ErrorCode and ErrorMessage are interaction.failed's; see
	// Batch.ErrorCode.
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// Video is the data of video.generated. Deliveries name the video in
// different ways (the docs send output_file_uri and file_name, live
// deliveries video_uri and file_id); every field is kept, and Location picks
// the best one.
type Video struct {
	ID            string `json:"id"` // the operation, e.g. "models/veo-3.1-generate-preview/operations/a1b2"
	OutputFileURI string `json:"output_file_uri,omitempty"`
	VideoURI      string `json:"video_uri,omitempty"`
	FileName      string `json:"file_name,omitempty"` // "files/x9y8z7"
	FileID        string `json:"file_id,omitempty"`   // "x9y8z7"
}

// Location returns where the video can be fetched, trying in order:
// VideoURI, OutputFileURI, then the Files API resource name built from
// FileName or FileID ("files/" + the ID, never doubling the prefix). It
// returns "" when all are empty.
func (v *Video) Location() string {
	switch {
	case v.VideoURI != "":
		return v.VideoURI
	case v.OutputFileURI != "":
		return v.OutputFileURI
	}
	for _, name := range []string{v.FileName, v.FileID} {
		if id := strings.TrimPrefix(name, "files/"); id != "" {
			return "files/" + id
		}
	}
	return ""
}

// Unknown is the data of a type this package does not know, such as the
// emulator's webhook.ping. New types must not break old receivers, so they
// decode to Unknown rather than to an error.
type Unknown struct {
	Type Type            // the event's type, as sent
	Raw  json.RawMessage // the data value as sent (nil when absent)
}

func (d *Batch) eventType() Type       { return d.Type }
func (d *Interaction) eventType() Type { return d.Type }
func (*Video) eventType() Type         { return TypeVideoGenerated }
func (d *Unknown) eventType() Type     { return d.Type }

func (d *Batch) fields() []field {
	return []field{{name: "id", dst: &d.ID}, {name: "output_file_uri", dst: &d.OutputFileURI},
		{name: "error_code", dst: &d.ErrorCode, code: true}, {name: "error_message", dst: &d.ErrorMessage}}
}

func (d *Interaction) fields() []field {
	return []field{{name: "id", dst: &d.ID}, {name: "error_code", dst: &d.ErrorCode, code: true},
		{name: "error_message", dst: &d.ErrorMessage}}
}

func (d *Video) fields() []field {
	return []field{{name: "id", dst: &d.ID}, {name: "output_file_uri", dst: &d.OutputFileURI},
		{name: "video_uri", dst: &d.VideoURI}, {name: "file_name", dst: &d.FileName}, {name: "file_id", dst: &d.FileID}}
}

// jobOf returns the TypeInfo.Job of the types d may carry ("" for
// *Unknown).
func jobOf(d Data) string {
	switch d.(type) {
	case *Batch:
		return "batch"
	case *Interaction:
		return "interaction"
	case *Video:
		return "video"
	}
	return ""
}

// fields is empty: Unknown keeps its data raw.
func (*Unknown) fields() []field { return nil }

// newData returns a zero value of the data type for t, or nil when t is
// not known.
func newData(t Type) Data {
	ti, ok := Lookup(t)
	if !ok {
		return nil
	}
	switch ti.Job {
	case "batch":
		return &Batch{Type: ti.Canonical}
	case "interaction":
		return &Interaction{Type: ti.Canonical}
	case "video":
		return new(Video)
	}
	return nil
}

// Decode returns e.Data as the struct for e.Type, or *Unknown when the
// type is not known (never an error for that). Absent or null data decodes
// to a struct with no field but Type set, and unknown fields are ignored. Keys match exactly, as
// in Parse, so a struct's ID always equals e.JobID; later duplicates of a
// field Parse does not read win (Parse refuses a repeated id) and null
// leaves a field empty. For a known type, data that is not an object or
// a field of the wrong kind is an error wrapping ErrInvalidData; Raw still
// holds everything for a handler that wants to look itself.
func (e *Event) Decode() (Data, error) {
	if e == nil {
		return nil, errors.New("event: decode of a nil *Event")
	}
	d := newData(e.Type)
	if d == nil {
		return &Unknown{Type: e.Type, Raw: e.Data}, nil
	}
	name := logSafe(string(e.Type))
	switch k := kind(bytes.TrimLeft(e.Data, " \t\r\n")); k {
	case "nothing", "null":
		return d, nil
	case "object":
	default:
		return nil, fmt.Errorf("%w: %s data: got %s, want an object", ErrInvalidData, name, k)
	}
	// Parse's Data is valid already; this guards Events built by hand.
	if !json.Valid(e.Data) {
		return nil, fmt.Errorf("%w: %s data is not valid JSON", ErrInvalidData, name)
	}
	fs := d.fields()
	m, _ := newMembers(e.Data)
	for {
		k, v, ok := m.next()
		if !ok {
			break
		}
		for _, f := range fs {
			if !keyIs(k, f.name) {
				continue
			}
			if err := f.set(v); err != nil {
				return nil, fmt.Errorf("%w: %s data: %w", ErrInvalidData, name, err)
			}
		}
	}
	return d, nil
}

func (f field) set(v []byte) error {
	switch k := kind(v); {
	case k == "null":
		return nil
	case k == "string":
		*f.dst, _ = decodeString(v)
		return nil
	case k == "number" && f.code:
		*f.dst = string(v)
		return nil
	}
	want := "a string"
	if f.code {
		want = "a number or a string"
	}
	return fmt.Errorf("%s: got %s, want %s", f.name, kind(v), want)
}

// As decodes e and returns its data as T, such as *Batch. It fails
// with an error wrapping ErrTypeMismatch when e's data is of another type,
// and with Decode's error when decoding fails.
func As[T Data](e *Event) (T, error) {
	var zero T
	d, err := e.Decode()
	if err != nil {
		return zero, err
	}
	t, ok := d.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %s event decodes to %T, not %T", ErrTypeMismatch, logSafe(string(e.Type)), d, zero)
	}
	return t, nil
}

// isJSONNumber reports whether s is exactly one JSON number.
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || s[len(s)-1] < '0' || s[len(s)-1] > '9' {
		return false
	}
	return json.Valid([]byte(s))
}
