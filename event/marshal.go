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
// The type is d.EventType(), so *BatchSucceeded is written as
// batch.succeeded; to send the legacy batch.completed, pass an *Unknown with
// that Type. ts is written in UTC with RFC3339Nano (whole seconds print as
// plain RFC 3339) and must not be zero. userMetadata, when not nil, goes
// inside data, where Parse looks first. An *Unknown's Raw is written
// compacted; it must be a JSON object when userMetadata is set, and must not
// already hold a user_metadata.
//
// Parse then Decode gives back d, ts and userMetadata.
func Marshal(d Data, ts time.Time, userMetadata map[string]any) ([]byte, error) {
	if d == nil || reflect.ValueOf(d).IsNil() {
		return nil, fmt.Errorf("%w: nil data", ErrMarshal)
	}
	typ := d.EventType()
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
		var err error
		if data, err = json.Marshal(d); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMarshal, err)
		}
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
	out = append(out, `,"version":"`+VersionV1+`","timestamp":"`...)
	out = ts.UTC().AppendFormat(out, time.RFC3339Nano)
	out = append(out, `","data":`...)
	out = append(out, data...)
	out = append(out, '}')
	return out, nil
}
