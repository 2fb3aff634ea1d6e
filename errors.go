package geminihooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
)

// ErrNotFound is matched (errors.Is) by an *APIError for a 404 or a
// NOT_FOUND status: the webhook, job or interaction named does not exist.
var ErrNotFound = errors.New("geminihooks: not found")

// ErrInvalidArgument is matched (errors.Is) by an *APIError for a 400 or an
// INVALID_ARGUMENT status, and by the errors that refuse a request before
// anything is sent: a bad Callback or webhook URI, and function results for
// an interaction that is not waiting for them.
var ErrInvalidArgument = errors.New("geminihooks: invalid argument")

// APIError is an error answer from the Gemini API, parsed from Google's error
// JSON ({"error":{"code","message","status","details"}}). Every error this
// package returns for a non-2xx answer is an *APIError, whichever genai layer
// produced it; use errors.As to get it (its StatusCode tells a 403 or a 429
// apart) and errors.Is with ErrNotFound or ErrInvalidArgument to branch.
//
// The API key and any full signing secret are redacted from Message and
// Details.
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Status is the canonical status name, such as "NOT_FOUND", when the
	// server sent one.
	Status string
	// Message is the server's human-readable message.
	Message string
	// Details are the error's typed details (google.rpc.* messages), as sent.
	Details []map[string]any
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("geminihooks: api error ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Status != "" {
		b.WriteString(" ")
		b.WriteString(e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether e matches ErrNotFound or ErrInvalidArgument.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound || e.Status == "NOT_FOUND"
	case ErrInvalidArgument:
		return e.StatusCode == http.StatusBadRequest || e.Status == "INVALID_ARGUMENT"
	}
	return false
}

// secretPattern matches a full Standard Webhooks secret. Truncated secrets
// ("whsec_...3frh") do not match, so they stay readable.
var secretPattern = regexp.MustCompile(`whsec_[A-Za-z0-9+/=_-]{8,}`)

// minAnywhereKeyLen is the length from which the API key is redacted wherever
// it appears, even inside a longer word. Gemini's keys have 39 characters, and
// a string that long does not occur by chance. A shorter key, such as an
// emulator's "k", would match inside ordinary words ("Webhook"), so it is
// redacted only where it stands as a whole token.
const minAnywhereKeyLen = 16

// redact removes the API key and full signing secrets from s, which is text
// already decoded: redacting inside raw JSON could break its syntax.
func redact(s, apiKey string) string {
	switch {
	case apiKey == "":
	case len(apiKey) >= minAnywhereKeyLen:
		s = strings.ReplaceAll(s, apiKey, "[redacted]")
	default:
		s = redactToken(s, apiKey)
	}
	return secretPattern.ReplaceAllString(s, "whsec_[redacted]")
}

// redactToken replaces the occurrences of key in s that are not part of a
// longer run of key characters.
func redactToken(s, key string) string {
	var b strings.Builder
	done := 0 // s[:done] is in b
	for from := 0; from <= len(s)-len(key); {
		i := strings.Index(s[from:], key)
		if i < 0 {
			break
		}
		i += from
		end := i + len(key)
		if (i > 0 && isKeyByte(s[i-1])) || (end < len(s) && isKeyByte(s[end])) {
			from = i + 1
			continue
		}
		b.WriteString(s[done:i])
		b.WriteString("[redacted]")
		done, from = end, end
	}
	b.WriteString(s[done:])
	return b.String()
}

// isKeyByte reports whether c may appear in an API key: Google's keys are
// letters, digits, '-' and '_'.
func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// maxMessageBytes bounds a message taken from a body that is not Google error
// JSON (an HTML proxy page, say).
const maxMessageBytes = 512

type wireError struct {
	Error *struct {
		Code    json.RawMessage  `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details"`
	} `json:"error"`
}

// parseAPIError builds an *APIError from an HTTP status and a response body.
// It accepts Google's error JSON with a numeric code, the Interactions API's
// variant with a string code, and any other body as plain text.
func parseAPIError(statusCode int, body []byte, apiKey string) *APIError {
	e := &APIError{StatusCode: statusCode}
	var w wireError
	if err := json.Unmarshal(body, &w); err != nil || w.Error == nil {
		// Redacted before it is cut, so no part of a key survives the cut,
		// and after, in case the cut leaves a short key standing alone.
		msg := redact(strings.TrimSpace(string(body)), apiKey)
		if len(msg) > maxMessageBytes {
			msg = redact(msg[:maxMessageBytes], apiKey) + "..."
		}
		e.Message = msg
		if e.StatusCode == 0 {
			e.Status = "UNKNOWN"
		}
		return e
	}
	// Redacted after decoding: JSON escapes ("\/", "\u0041") that hide a key
	// are undone by then, and the JSON's syntax is no longer at stake.
	e.Message = redact(w.Error.Message, apiKey)
	e.Status = redact(w.Error.Status, apiKey)
	e.Details = redactDetails(w.Error.Details, apiKey)
	if code := bytes.TrimSpace(w.Error.Code); len(code) > 0 {
		var n int
		var s string
		switch {
		case json.Unmarshal(code, &n) == nil:
			if e.StatusCode == 0 {
				e.StatusCode = n
			}
		case json.Unmarshal(code, &s) == nil && e.Status == "":
			e.Status = redact(s, apiKey)
		}
	}
	return e
}

// convertError maps the errors genai's two layers return onto *APIError and
// prefixes everything else with op. Errors that already are ours pass through.
func (c *client) convertError(op string, err error) error {
	if err == nil {
		return nil
	}
	var ours *APIError
	if errors.As(err, &ours) {
		return err
	}
	if e := c.apiErrorFrom(err); e != nil {
		return e
	}
	// Not an answer from the server (a network failure, a cancelled context,
	// genai's own argument checks): keep the cause for errors.Is/As.
	return fmt.Errorf("geminihooks: %s: %w", op, err)
}

func (c *client) apiErrorFrom(err error) *APIError {
	var gv genai.APIError
	if errors.As(err, &gv) {
		return fromGenAI(gv, c.apiKey)
	}
	var gp *genai.APIError
	if errors.As(err, &gp) && gp != nil {
		return fromGenAI(*gp, c.apiKey)
	}
	var raw *apierrors.APIError
	if errors.As(err, &raw) {
		return parseAPIError(raw.StatusCode, []byte(raw.Body), c.apiKey)
	}
	var invalid *apierrors.ResponseValidationError
	if errors.As(err, &invalid) {
		return parseAPIError(invalid.StatusCode, []byte(invalid.Body), c.apiKey)
	}
	// The Interactions API's typed errors keep the HTTP response, whose body
	// genai has already buffered.
	var resp *http.Response
	var ce *apierrors.CreateInteractionClientError
	var se *apierrors.CreateInteractionServerError
	var gce *apierrors.GetInteractionByIDClientError
	var gse *apierrors.GetInteractionByIDServerError
	switch {
	case errors.As(err, &ce):
		resp = ce.HTTPMeta.Response
	case errors.As(err, &se):
		resp = se.HTTPMeta.Response
	case errors.As(err, &gce):
		resp = gce.HTTPMeta.Response
	case errors.As(err, &gse):
		resp = gse.HTTPMeta.Response
	default:
		return nil
	}
	if resp == nil {
		return &APIError{Message: redact(err.Error(), c.apiKey)}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return parseAPIError(resp.StatusCode, body, c.apiKey)
}

// fromGenAI converts genai's value error. genai copies the body's "code" into
// Code; when it could not parse the body it puts the HTTP status line in
// Status and the raw body in Message, which parseAPIError then reads.
func fromGenAI(e genai.APIError, apiKey string) *APIError {
	if e.Status != "" && !isCanonicalStatus(e.Status) {
		// A "404 Not Found" status line: the body was not Google error JSON.
		return parseAPIError(e.Code, []byte(e.Message), apiKey)
	}
	out := &APIError{
		StatusCode: e.Code,
		Status:     e.Status,
		Message:    redact(e.Message, apiKey),
	}
	if len(e.Details) > 0 {
		out.Details = redactDetails(e.Details, apiKey)
	}
	return out
}

// redactDetails returns a copy of decoded error details with every string in
// them, keys included, redacted.
func redactDetails(details []map[string]any, apiKey string) []map[string]any {
	if len(details) == 0 {
		return nil
	}
	out := make([]map[string]any, len(details))
	for i, d := range details {
		out[i], _ = redactValue(d, apiKey).(map[string]any)
	}
	return out
}

// redactValue redacts a value decoded from JSON.
func redactValue(v any, apiKey string) any {
	switch v := v.(type) {
	case string:
		return redact(v, apiKey)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redactValue(x, apiKey)
		}
		return out
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[redact(k, apiKey)] = redactValue(x, apiKey)
		}
		return out
	}
	return v
}

// isCanonicalStatus reports whether s looks like a google.rpc.Code name
// (NOT_FOUND, RESOURCE_EXHAUSTED) rather than an HTTP status line.
func isCanonicalStatus(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return s != ""
}
