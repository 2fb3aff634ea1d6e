package signing

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
)

// tokenClaims is the JSON form of a webhook JWT's claims as verification reads them. Its field types
// parse their JSON directly rather than through nested json.Unmarshal calls, which kept the JWT path
// well above the cost of its RSA check.
type tokenClaims struct {
	Issuer           string      `json:"iss"`
	Audience         audience    `json:"aud"`
	ExpiresAt        numericDate `json:"exp"`
	NotBefore        numericDate `json:"nbf"`
	IssuedAt         numericDate `json:"iat"`
	WebhookID        string      `json:"webhook_id"`
	WebhookTimestamp flexString  `json:"webhook_timestamp"`
	BodySHA256       string      `json:"body_sha256"`
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly fractional.
type numericDate struct {
	t   time.Time
	set bool
}

func (n *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1<<53 {
		return errors.New("signing: jwt date is not a number of seconds")
	}
	sec, frac := math.Modf(f)
	n.t, n.set = time.Unix(int64(sec), int64(frac*1e9)), true
	return nil
}

// audience is the aud claim: one string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		s, err := unquote(b)
		if err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("signing: jwt aud is neither a string nor an array of strings")
	}
	*a = list
	return nil
}

func (a audience) containsAny(want []string) bool {
	for _, have := range a {
		for _, w := range want {
			if have == w {
				return true
			}
		}
	}
	return false
}

// flexString is a claim that may arrive as a JSON string or a JSON number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		s, err := unquote(b)
		*f = flexString(s)
		return err
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return errors.New("signing: claim is neither a string nor a number")
	}
	*f = flexString(b)
	return nil
}

// unquote decodes a JSON string, taking the fast path when it has no escapes.
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		inner := b[1 : len(b)-1]
		plain := true
		for _, c := range inner {
			if c == '\\' || c == '"' || c < 0x20 {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), nil
		}
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}
