package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
// implementations are this package's pointer types, one per known Type,
// and *Unknown for any other type. Switch on the concrete type or use As.
type Data interface {
	// EventType returns the canonical type this data belongs to. For
	// *BatchSucceeded it is TypeBatchSucceeded even when the event said
	// batch.completed; Event.Type keeps what was sent.
	EventType() Type
	// fields seals the interface and lists the data's wire fields for
	// Decode.
	fields() []field
}

// field is one wire field of a data struct. Every field is a string on the
// wire except error_code, which may also be a number.
type field struct {
	name string
	dst  *string
	code bool
}

// BatchSucceeded is the data of batch.succeeded and of its alias
// batch.completed.
type BatchSucceeded struct {
	ID            string `json:"id"`                        // e.g. "batches/abc"
	OutputFileURI string `json:"output_file_uri,omitempty"` // where the results are
}

// BatchFailed is the data of batch.failed.
type BatchFailed struct {
	ID           string    `json:"id"`
	ErrorCode    ErrorCode `json:"error_code,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
}

// BatchExpired is the data of batch.expired.
type BatchExpired struct {
	ID string `json:"id"`
}

// BatchCancelled is the data of batch.cancelled.
type BatchCancelled struct {
	ID string `json:"id"`
}

// InteractionRequiresAction is the data of interaction.requires_action.
type InteractionRequiresAction struct {
	ID string `json:"id"`
}

// InteractionCompleted is the data of interaction.completed.
type InteractionCompleted struct {
	ID string `json:"id"`
}

// InteractionFailed is the data of interaction.failed.
type InteractionFailed struct {
	ID           string    `json:"id"`
	ErrorCode    ErrorCode `json:"error_code,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
}

// InteractionCancelled is the data of interaction.cancelled.
type InteractionCancelled struct {
	ID string `json:"id"`
}

// VideoGenerated is the data of video.generated. Deliveries name the video
// in different ways (the docs send output_file_uri and file_name, live
// deliveries video_uri and file_id); every field is kept, and Location picks
// the best one.
type VideoGenerated struct {
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
func (v *VideoGenerated) Location() string {
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

func (d *BatchSucceeded) EventType() Type            { return TypeBatchSucceeded }
func (d *BatchFailed) EventType() Type               { return TypeBatchFailed }
func (d *BatchExpired) EventType() Type              { return TypeBatchExpired }
func (d *BatchCancelled) EventType() Type            { return TypeBatchCancelled }
func (d *InteractionRequiresAction) EventType() Type { return TypeInteractionRequiresAction }
func (d *InteractionCompleted) EventType() Type      { return TypeInteractionCompleted }
func (d *InteractionFailed) EventType() Type         { return TypeInteractionFailed }
func (d *InteractionCancelled) EventType() Type      { return TypeInteractionCancelled }
func (d *VideoGenerated) EventType() Type            { return TypeVideoGenerated }

// EventType returns the type the unknown data came with.
func (d *Unknown) EventType() Type {
	if d == nil {
		return ""
	}
	return d.Type
}

func (d *BatchSucceeded) fields() []field {
	return []field{{name: "id", dst: &d.ID}, {name: "output_file_uri", dst: &d.OutputFileURI}}
}

func (d *BatchFailed) fields() []field {
	return []field{{name: "id", dst: &d.ID}, {name: "error_code", dst: (*string)(&d.ErrorCode), code: true},
		{name: "error_message", dst: &d.ErrorMessage}}
}

func (d *BatchExpired) fields() []field              { return []field{{name: "id", dst: &d.ID}} }
func (d *BatchCancelled) fields() []field            { return []field{{name: "id", dst: &d.ID}} }
func (d *InteractionRequiresAction) fields() []field { return []field{{name: "id", dst: &d.ID}} }
func (d *InteractionCompleted) fields() []field      { return []field{{name: "id", dst: &d.ID}} }

func (d *InteractionFailed) fields() []field {
	return []field{{name: "id", dst: &d.ID}, {name: "error_code", dst: (*string)(&d.ErrorCode), code: true},
		{name: "error_message", dst: &d.ErrorMessage}}
}

func (d *InteractionCancelled) fields() []field { return []field{{name: "id", dst: &d.ID}} }

func (d *VideoGenerated) fields() []field {
	return []field{{name: "id", dst: &d.ID}, {name: "output_file_uri", dst: &d.OutputFileURI},
		{name: "video_uri", dst: &d.VideoURI}, {name: "file_name", dst: &d.FileName}, {name: "file_id", dst: &d.FileID}}
}

// fields is empty: Unknown keeps its data raw.
func (*Unknown) fields() []field { return nil }

// newData returns a zero value of the data type for t, or nil when t is
// not known.
func newData(t Type) Data {
	switch t.Canonical() {
	case TypeBatchSucceeded:
		return new(BatchSucceeded)
	case TypeBatchFailed:
		return new(BatchFailed)
	case TypeBatchExpired:
		return new(BatchExpired)
	case TypeBatchCancelled:
		return new(BatchCancelled)
	case TypeInteractionRequiresAction:
		return new(InteractionRequiresAction)
	case TypeInteractionCompleted:
		return new(InteractionCompleted)
	case TypeInteractionFailed:
		return new(InteractionFailed)
	case TypeInteractionCancelled:
		return new(InteractionCancelled)
	case TypeVideoGenerated:
		return new(VideoGenerated)
	}
	return nil
}

// Decode returns e.Data as the struct for e.Type, or *Unknown when the
// type is not known (never an error for that). Absent or null data decodes
// to a zero struct, and unknown fields are ignored. Keys match exactly, as
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

// As decodes e and returns its data as T, such as *BatchFailed. It fails
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

// ErrorCode is a failed job's error_code. Gemini has sent it both as a
// number (3) and as a string ("INTERNAL"); ErrorCode accepts both and keeps
// the text as sent, without quotes.
type ErrorCode string

// String returns the code's text, such as "3" or "INTERNAL".
func (c ErrorCode) String() string { return string(c) }

// Int returns the code as an int when its text is a decimal integer,
// whether it was sent as a number or a string, and fits in an int.
func (c ErrorCode) Int() (int, bool) {
	n, err := strconv.Atoi(string(c))
	if err != nil {
		return 0, false
	}
	return n, true
}

// UnmarshalJSON accepts a JSON number or string; null leaves c unchanged.
func (c *ErrorCode) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return errors.New("event: error_code: invalid JSON")
	}
	b = bytes.TrimSpace(b)
	switch kind(b) {
	case "null":
		return nil
	case "number":
		*c = ErrorCode(b)
		return nil
	case "string":
		s, _ := decodeString(b)
		*c = ErrorCode(s)
		return nil
	}
	return fmt.Errorf("event: error_code: got %s, want a number or a string", kind(b))
}

// MarshalJSON writes a code whose text is a JSON number as a number, and
// any other code as a string.
func (c ErrorCode) MarshalJSON() ([]byte, error) {
	if isJSONNumber(string(c)) {
		return []byte(c), nil
	}
	return json.Marshal(string(c))
}

// isJSONNumber reports whether s is exactly one JSON number.
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || s[len(s)-1] < '0' || s[len(s)-1] > '9' {
		return false
	}
	return json.Valid([]byte(s))
}
