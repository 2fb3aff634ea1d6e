package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// versionV1 is the envelope version Gemini sends and Marshal writes.
const versionV1 = "v1"

// Errors from Parse and TimestampError, all permanent: retrying the same
// body cannot help.
var (
	// ErrNotEvent reports a body Parse cannot take as an event: not a
	// single JSON object (invalid JSON, JSON nested deeper than
	// encoding/json allows, 10000 levels, or another kind of value such as
	// an array), or an object whose "type" is absent, null, "" or not a
	// string. The error's text says which.
	ErrNotEvent = errors.New("event: not an event")
	// ErrDuplicateKey reports an envelope field that appears twice (see
	// Parse): JSON parsers disagree on which copy counts, so a body that
	// means one thing here might mean another to the next reader.
	ErrDuplicateKey = errors.New("event: duplicate key")
	// ErrInvalidTimestamp is returned by TimestampError when the
	// envelope's timestamp is absent or not RFC 3339.
	ErrInvalidTimestamp = errors.New("event: invalid timestamp")
)

// Event is one parsed delivery: the envelope's fields, the raw data object
// and the whole body.
type Event struct {
	// ID is the delivery's webhook-id header, stable across retries. Parse
	// sees only the body, so it leaves ID empty; the receiver sets it.
	ID string
	// Type is the envelope's "type", known or not.
	Type Type
	// Version is the envelope's "version" ("v1", the only version Gemini
	// sends), or "" when absent or not a string.
	Version string
	// Timestamp is when the event happened, as the envelope says (not when
	// it was delivered: retries keep it, and deliveries may arrive out of
	// order). It is zero when absent or not RFC 3339; see TimestampError.
	Timestamp time.Time
	// JobID is data.id: the batch, interaction or operation the event is
	// about, such as "batches/abc". It is "" when absent or not a string.
	JobID string
	// UserMetadata is the user_metadata object of the job's webhook_config,
	// taken from data.user_metadata or, failing that, from a top-level
	// user_metadata. It is nil when neither is an object (or when it holds a
	// number too large for float64). It may be sensitive: String and
	// LogValue leave it out.
	UserMetadata map[string]any
	// Data is the envelope's "data" value exactly as sent, nil when absent.
	// It aliases the body given to Parse.
	Data json.RawMessage
	// Raw is the whole body given to Parse, byte for byte. It aliases that
	// slice rather than copying it.
	Raw json.RawMessage
}

// Parse parses a delivery's body. It fails only when body is not a JSON
// object, has no string "type", or repeats a field of the envelope; unknown
// fields, unknown types, and fields of an unexpected kind are accepted.
//
// A field of the envelope that appears twice at its level (type, version,
// timestamp, data or user_metadata at the top; id or user_metadata in data)
// fails with ErrDuplicateKey, escaped spellings of a key included: readers
// disagree on which copy wins (encoding/json takes the last, others the
// first), so a signed body must not be read two ways. Other repeated keys,
// which Parse does not read, are left alone; Decode takes the last of them,
// as encoding/json does.
//
// Parse does not copy the body: Raw is body itself and Data a sub-slice of
// it, so the caller must not modify body while the Event is in use. Invalid
// UTF-8 inside JSON strings is accepted, and decoded values carry U+FFFD in
// its place, as with encoding/json; Raw keeps the original bytes.
func Parse(body []byte) (*Event, error) {
	if !json.Valid(body) {
		return nil, invalidJSON(body)
	}
	m, ok := newMembers(body)
	if !ok {
		return nil, fmt.Errorf("%w: body is not a JSON object: got %s", ErrNotEvent, kind(bytes.TrimLeft(body, " \t\r\n")))
	}
	var typ, version, ts, data, topMeta []byte
	for {
		k, v, ok := m.next()
		if !ok {
			break
		}
		var field *[]byte
		switch {
		case keyIs(k, "type"):
			field = &typ
		case keyIs(k, "version"):
			field = &version
		case keyIs(k, "timestamp"):
			field = &ts
		case keyIs(k, "data"):
			field = &data
		case keyIs(k, "user_metadata"):
			field = &topMeta
		default:
			continue
		}
		// A value is never empty, so a set field was seen before.
		if *field != nil {
			return nil, duplicate("", k)
		}
		*field = v
	}

	e := &Event{Raw: body, Data: data}
	switch kind(typ) {
	case "nothing", "null":
		return nil, fmt.Errorf("%w: missing type", ErrNotEvent)
	case "string":
	default:
		return nil, fmt.Errorf("%w: type is not a string: got %s", ErrNotEvent, kind(typ))
	}
	e.Type = internType(typ)
	if e.Type == "" {
		return nil, fmt.Errorf("%w: missing type: type is empty", ErrNotEvent)
	}
	if len(version) == 4 && string(version) == `"v1"` {
		e.Version = versionV1
	} else {
		e.Version, _ = decodeString(version)
	}
	e.Timestamp, _ = parseTimestamp(ts)

	meta := topMeta
	if dm, ok := newMembers(data); ok {
		var id, dataMeta []byte
		for {
			k, v, ok := dm.next()
			if !ok {
				break
			}
			var field *[]byte
			switch {
			case keyIs(k, "id"):
				field = &id
			case keyIs(k, "user_metadata"):
				field = &dataMeta
			default:
				continue
			}
			if *field != nil {
				return nil, duplicate("data.", k)
			}
			*field = v
		}
		e.JobID, _ = decodeString(id)
		if kind(dataMeta) == "object" {
			meta = dataMeta
		}
	}
	if kind(meta) == "object" {
		var um map[string]any
		if json.Unmarshal(meta, &um) == nil {
			e.UserMetadata = um
		}
	}
	return e, nil
}

// duplicate reports the repeated key raw (with its quotes) of an envelope
// field, by the name Parse knows it by.
func duplicate(prefix string, raw []byte) error {
	name, _ := decodeString(raw)
	return fmt.Errorf("%w: %s%s appears twice", ErrDuplicateKey, prefix, name)
}

// invalidJSON explains why body failed json.Valid; it runs only on the
// error path, so its extra decode costs nothing on good input.
func invalidJSON(body []byte) error {
	if nestingDepth(body) > maxDepth {
		return fmt.Errorf("%w: body is not a JSON object: nested deeper than %d levels", ErrNotEvent, maxDepth)
	}
	var v struct{}
	err := json.Unmarshal(body, &v)
	if err == nil { // unreachable: json.Valid and Unmarshal agree on syntax
		return ErrNotEvent
	}
	return fmt.Errorf("%w: body is not a JSON object: %w", ErrNotEvent, err)
}

// maxDepth is encoding/json's nesting limit, beyond which json.Valid fails.
const maxDepth = 10000

// nestingDepth returns the deepest nesting of objects and arrays in b,
// skipping strings.
func nestingDepth(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			continue
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
		i++
	}
	return deepest
}

// internType returns the constant for known types, so parsing them does not
// allocate.
func internType(raw []byte) Type {
	if len(raw) > 2 {
		if i := index(string(raw[1 : len(raw)-1])); i >= 0 {
			return table[i].Type
		}
	}
	s, _ := decodeString(raw)
	return Type(s)
}

// parseTimestamp accepts RFC 3339 with or without fractional seconds.
func parseTimestamp(raw []byte) (time.Time, error) {
	s, ok := decodeString(raw)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: got %s, want an RFC 3339 string", ErrInvalidTimestamp, kind(raw))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q is not RFC 3339", ErrInvalidTimestamp, truncate(s))
	}
	return t, nil
}

// TimestampError says why Timestamp is zero: it returns an error wrapping
// ErrInvalidTimestamp when Raw's timestamp is absent or not RFC 3339, and
// nil otherwise. A bad timestamp does not make Parse fail, since the rest of
// the event is still useful.
func (e *Event) TimestampError() error {
	m, ok := newMembers(e.Raw)
	if !ok {
		return fmt.Errorf("%w: no envelope", ErrInvalidTimestamp)
	}
	var ts []byte
	for {
		k, v, ok := m.next()
		if !ok {
			break
		}
		if keyIs(k, "timestamp") {
			ts = v
		}
	}
	_, err := parseTimestamp(ts)
	return err
}

// maxJobKey bounds a JobKey: it is inbox.MaxKeyBytes, which this leaf
// package does not import (the listener's tests check that they agree).
const maxJobKey = 1024

// JobKey returns the key that makes an event that happens once per job
// count once, whichever webhook-id it arrives under: for a terminal event
// of a known type with a job ID, or an interaction.requires_action, the
// canonical type, a NUL byte and the job ID; otherwise "". A second
// delivery of such an event (a second subscription, the batch.completed
// alias, or an event a reconciler synthesized from the job's state) has
// the same key, and an inbox stores it once. (An interaction that required
// action is continued by a new interaction with an ID of its own.) A key
// that would be longer than 1 KiB, the longest key an inbox stores, holds
// the SHA-256 of the job ID instead ("sha256:" and 64 hex digits).
func JobKey(e *Event) string {
	if e == nil || e.JobID == "" {
		return ""
	}
	ti, ok := Lookup(e.Type)
	if !ok || !ti.Terminal && ti.Type != TypeInteractionRequiresAction {
		return ""
	}
	key := string(ti.Canonical) + "\x00" + e.JobID
	if len(key) > maxJobKey {
		sum := sha256.Sum256([]byte(e.JobID))
		key = string(ti.Canonical) + "\x00sha256:" + hex.EncodeToString(sum[:])
	}
	return key
}

// String describes e for logs: type, delivery id, job id and timestamp.
// It never includes user metadata or other data values. Values are quoted
// when they hold anything but plain printable characters, and long ones are
// cut short.
func (e *Event) String() string {
	if e == nil {
		return "event(nil)"
	}
	var b strings.Builder
	b.WriteString("event ")
	b.WriteString(logSafe(string(e.Type)))
	if e.ID != "" {
		b.WriteString(" id=")
		b.WriteString(logSafe(e.ID))
	}
	if e.JobID != "" {
		b.WriteString(" job=")
		b.WriteString(logSafe(e.JobID))
	}
	b.WriteString(" time=")
	if e.Timestamp.IsZero() {
		b.WriteString("unknown")
	} else {
		b.WriteString(e.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	return b.String()
}

// LogValue gives slog the same fields as String, as a group.
func (e *Event) LogValue() slog.Value {
	if e == nil {
		return slog.StringValue("event(nil)")
	}
	attrs := []slog.Attr{slog.String("type", truncate(string(e.Type)))}
	if e.ID != "" {
		attrs = append(attrs, slog.String("id", truncate(e.ID)))
	}
	if e.JobID != "" {
		attrs = append(attrs, slog.String("job", truncate(e.JobID)))
	}
	if !e.Timestamp.IsZero() {
		attrs = append(attrs, slog.Time("time", e.Timestamp))
	}
	return slog.GroupValue(attrs...)
}

// maxLogLen bounds each value String and LogValue print, so a hostile or
// broken payload cannot flood a log line.
const maxLogLen = 128

func truncate(s string) string {
	if len(s) <= maxLogLen {
		return s
	}
	// Cut on a rune boundary so the result stays valid UTF-8 where s was.
	cut := maxLogLen
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

func logSafe(s string) string {
	s = truncate(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
