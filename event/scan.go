package event

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// members walks the members of a JSON object without copying or decoding
// it, so Parse can point Data at the body and decode only the few fields it
// needs. The input must already have passed json.Valid; the bounds checks
// below only make a misuse end the walk instead of panicking.
type members struct {
	b    []byte
	i    int
	done bool
}

// newMembers starts a walk over obj, a valid JSON value. ok is false when
// obj is not an object.
func newMembers(obj []byte) (m members, ok bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return members{}, false
	}
	return members{b: obj, i: i + 1}, true
}

// next returns the next member's raw key (with its quotes) and raw value.
func (m *members) next() (key, val []byte, ok bool) {
	if m.done {
		return nil, nil, false
	}
	b := m.b
	i := skipSpace(b, m.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		m.done = true
		return nil, nil, false
	}
	ke := skipString(b, i)
	key = b[i:ke]
	i = skipSpace(b, ke)
	if i >= len(b) || b[i] != ':' {
		m.done = true
		return nil, nil, false
	}
	vs := skipSpace(b, i+1)
	ve := skipValue(b, vs)
	if ve <= vs {
		m.done = true
		return nil, nil, false
	}
	m.i = ve
	return key, b[vs:ve], true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); {
			switch b[j] {
			case '"':
				j = skipString(b, j)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
			j++
		}
		return j
	}
}

// keyIs reports whether the raw JSON key (with quotes) decodes to name.
func keyIs(raw []byte, name string) bool {
	if len(raw) < 2 {
		return false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	s, ok := decodeString(raw)
	return ok && s == name
}

// decodeString decodes a raw JSON string value. ok is false for any other
// kind. Like encoding/json, it replaces invalid UTF-8 with U+FFFD.
func decodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	return decodeEscaped(raw)
}

// decodeEscaped is decodeString's slow path, kept apart so the fast path's
// result does not escape to the heap through json.Unmarshal.
func decodeEscaped(raw []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// kind names the JSON kind of a raw value, for error messages.
func kind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}
