package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// ErrMarshal reports Data, a timestamp or user metadata that Marshal
// cannot turn into an envelope.
var ErrMarshal = errors.New("event: cannot marshal")

// Marshal builds the v1 envelope Gemini would deliver for d:
//
//	{"type":T,"version":"v1","timestamp":RFC3339,"data":{...,"user_metadata":{...}}}
//
// The type is d's: Batch.Type or Interaction.Type, which must be a type of
// that kind of job (the alias batch.completed included), video.generated
// for *Video, or Unknown.Type, which may be any type. Empty fields are left
// out, except id. ts is written in UTC with RFC3339Nano (whole seconds print
// as plain RFC 3339) and must not be zero. userMetadata, when not nil, goes
// inside data, where Parse looks first. An *Unknown's Raw is written
// compacted; it must be a JSON object when userMetadata is set, and must not
// already hold a user_metadata.
//
// Parse then Decode gives back d (with the canonical type), ts and
// userMetadata.
func Marshal(d Data, ts time.Time, userMetadata map[string]any) ([]byte, error) {
	if d == nil || reflect.ValueOf(d).IsNil() {
		return nil, fmt.Errorf("%w: nil data", ErrMarshal)
	}
	typ := d.eventType()
	if typ == "" {
		return nil, fmt.Errorf("%w: empty type", ErrMarshal)
	}
	if ts.IsZero() {
		return nil, fmt.Errorf("%w: zero timestamp", ErrMarshal)
	}
	if y := ts.UTC().Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%w: timestamp year %d outside RFC 3339", ErrMarshal, y)
	}

	var data []byte
	if u, ok := d.(*Unknown); ok {
		var buf bytes.Buffer
		switch {
		case len(u.Raw) == 0:
			buf.WriteString("{}")
		case json.Compact(&buf, u.Raw) != nil:
			return nil, fmt.Errorf("%w: unknown data is not valid JSON", ErrMarshal)
		}
		data = buf.Bytes()
	} else {
		if ti, _ := Lookup(typ); ti.Job != jobOf(d) {
			return nil, fmt.Errorf("%w: %T data with type %s", ErrMarshal, d, logSafe(string(typ)))
		}
		data = appendFields(make([]byte, 0, 128), d.fields())
	}

	if userMetadata != nil {
		m, ok := newMembers(data)
		if !ok {
			return nil, fmt.Errorf("%w: user metadata needs object data, got %s", ErrMarshal, kind(data))
		}
		empty := true
		for {
			k, _, ok := m.next()
			if !ok {
				break
			}
			empty = false
			if keyIs(k, "user_metadata") {
				return nil, fmt.Errorf("%w: data already holds user_metadata", ErrMarshal)
			}
		}
		meta, err := json.Marshal(userMetadata)
		if err != nil {
			return nil, fmt.Errorf("%w: user metadata: %w", ErrMarshal, err)
		}
		// data is compact and ends in '}': reopen it and append the member.
		spliced := make([]byte, 0, len(data)+len(meta)+len(`,"user_metadata":`))
		spliced = append(spliced, data[:len(data)-1]...)
		if !empty {
			spliced = append(spliced, ',')
		}
		spliced = append(spliced, `"user_metadata":`...)
		spliced = append(spliced, meta...)
		data = append(spliced, '}')
	}

	typJSON, err := json.Marshal(string(typ))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMarshal, err)
	}
	out := make([]byte, 0, len(typJSON)+len(data)+96)
	out = append(out, `{"type":`...)
	out = append(out, typJSON...)
	out = append(out, `,"version":"`+versionV1+`","timestamp":"`...)
	out = ts.UTC().AppendFormat(out, time.RFC3339Nano)
	out = append(out, `","data":`...)
	out = append(out, data...)
	out = append(out, '}')
	return out, nil
}

// appendFields appends the JSON object of a data struct's fields: id
// always, the others when not empty, and an error_code that is a JSON number
// as a number.
func appendFields(b []byte, fs []field) []byte {
	b = append(b, '{')
	first := true
	for _, f := range fs {
		v := *f.dst
		if v == "" && f.name != "id" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		if f.code && isJSONNumber(v) {
			b = append(b, v...)
		} else {
			b = appendString(b, v)
		}
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, escaped as encoding/json escapes
// it (HTML characters included).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
