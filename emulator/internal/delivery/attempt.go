package delivery

import (
	"encoding/json"
	"slices"
	"time"
)

// Attempt is one entry of the attempt log: one try at one delivery.
type Attempt struct {
	ID         string        // the webhook-id header, shared by every attempt of a delivery
	WebhookID  string        // the static webhook, "" for a dynamic (webhook_config) delivery
	URI        string        // the endpoint
	Number     int           // 1 for the first attempt of a delivery, 2 for its first retry, ...
	Start      time.Time     // when the attempt began, on the engine's clock
	StatusCode int           // the endpoint's answer; 0 when there was none
	Err        error         // why there was no answer: timeout, dropped connection, signing failure
	Latency    time.Duration // from Start to the answer or the error
	OK         bool          // a 2xx answer
	Faults     []Fault       // faults injected into this attempt, if any
	GaveUp     bool          // the attempt failed and the engine will not retry: the window is spent
}

// Injected reports whether any fault was injected into the attempt.
func (a Attempt) Injected() bool { return len(a.Faults) > 0 }

// attemptJSON is the wire form served at GET /emulator/v1/deliveries.
type attemptJSON struct {
	ID         string  `json:"id"`
	WebhookID  string  `json:"webhook_id,omitempty"`
	URI        string  `json:"uri"`
	Attempt    int     `json:"attempt"`
	StartTime  string  `json:"start_time"`
	StatusCode int     `json:"status_code,omitempty"`
	Error      string  `json:"error,omitempty"`
	LatencyMS  float64 `json:"latency_ms"`
	OK         bool    `json:"ok"`
	Injected   bool    `json:"injected"`
	Faults     []Fault `json:"faults,omitempty"`
	GaveUp     bool    `json:"gave_up,omitempty"`
}

// MarshalJSON renders the attempt in snake_case, with start_time in RFC 3339,
// latency_ms in milliseconds and the error as its message.
func (a Attempt) MarshalJSON() ([]byte, error) {
	j := attemptJSON{
		ID:         a.ID,
		WebhookID:  a.WebhookID,
		URI:        a.URI,
		Attempt:    a.Number,
		StartTime:  a.Start.UTC().Format(time.RFC3339Nano),
		StatusCode: a.StatusCode,
		LatencyMS:  float64(a.Latency) / float64(time.Millisecond),
		OK:         a.OK,
		Injected:   a.Injected(),
		Faults:     a.Faults,
		GaveUp:     a.GaveUp,
	}
	if a.Err != nil {
		j.Error = a.Err.Error()
	}
	return json.Marshal(j)
}

func (a Attempt) clone() Attempt {
	a.Faults = slices.Clone(a.Faults)
	return a
}
