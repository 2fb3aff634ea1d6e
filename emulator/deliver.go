package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/geminihooks/geminihooks/emulator/internal/delivery"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// jwtLifetime is how long a dynamic delivery's JWT stays valid.
const jwtLifetime = 5 * time.Minute

// Faults are deliberate delivery misbehaviours for tests and demos. The zero
// value injects nothing.
type Faults struct {
	// DuplicateRate is the probability, in [0, 1], that a delivery is also
	// sent a second time with the same webhook-id and body.
	DuplicateRate float64
	// Delay holds every attempt this long before it is sent (not scaled).
	Delay time.Duration
	// Reorder, when 2 or more, holds new deliveries until that many have
	// arrived (or ReorderHold has passed) and releases them shuffled.
	Reorder     int
	ReorderHold time.Duration
	// FailFirst fails the first FailFirst attempts of every delivery with a
	// synthetic 503, without contacting the endpoint; they are retried.
	FailFirst int
	// FailNext fails the next FailNext attempts, across all deliveries, that
	// no other fault fails, with the same synthetic 503, and is then used
	// up: a one-shot budget for exactly N failures (duplicates are spared).
	// SetFaults replaces what is left of it.
	FailNext int
	// CutConnection then cuts the connection mid-body on the next
	// CutConnection attempts of every delivery; they are retried.
	CutConnection int
}

func (f Faults) validate() error {
	switch {
	case !(f.DuplicateRate >= 0 && f.DuplicateRate <= 1):
		return fmt.Errorf("duplicate rate must be in [0, 1], got %v", f.DuplicateRate)
	case f.Delay < 0 || f.ReorderHold < 0:
		return errors.New("negative fault duration")
	case f.Reorder < 0 || f.FailFirst < 0 || f.FailNext < 0 || f.CutConnection < 0:
		return errors.New("negative fault count")
	}
	return nil
}

func (f Faults) internal() delivery.Faults {
	return delivery.Faults{
		DuplicateRate: f.DuplicateRate, Delay: f.Delay, Reorder: f.Reorder,
		ReorderHold: f.ReorderHold, FailFirst: f.FailFirst, FailNext: f.FailNext, CutConnection: f.CutConnection,
	}
}

// SetFaults replaces the injected delivery faults; attempts that start
// afterwards see the new ones.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return errorf("%w", err)
	}
	s.engine.SetFaults(f.internal())
	return nil
}

// Attempt is one entry of the delivery attempt log.
type Attempt struct {
	ID         string        // the webhook-id header, shared by every attempt of a delivery
	WebhookID  string        // the registered webhook, "" for a webhook_config URI
	URI        string        // the endpoint
	Number     int           // 1 for the first attempt, 2 for the first retry, ...
	Start      time.Time     // when the attempt began
	StatusCode int           // the endpoint's answer; 0 when there was none
	Err        error         // why there was no answer: timeout, cut connection, ...
	Latency    time.Duration // from Start to the answer or the error
	OK         bool          // a 2xx answer
	Faults     []string      // injected faults: duplicate, delay, reorder, fail, cut
	GaveUp     bool          // failed and not retried: the retry window is spent
}

// Attempts returns the delivery attempt log, oldest first (by finish time).
// The same log is served as JSON at GET /emulator/v1/deliveries.
func (s *Server) Attempts() []Attempt {
	in := s.engine.Attempts()
	out := make([]Attempt, len(in))
	for i, a := range in {
		out[i] = Attempt{
			ID: a.ID, WebhookID: a.WebhookID, URI: a.URI, Number: a.Number, Start: a.Start,
			StatusCode: a.StatusCode, Err: a.Err, Latency: a.Latency, OK: a.OK, GaveUp: a.GaveUp,
		}
		for _, f := range a.Faults {
			out[i].Faults = append(out[i].Faults, string(f))
		}
	}
	return out
}

func (s *Server) serveDeliveries(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethodNotFound)
		return
	}
	attempts := s.engine.Attempts()
	if attempts == nil {
		attempts = []delivery.Attempt{}
	}
	writeJSON(w, http.StatusOK, struct {
		Attempts []delivery.Attempt `json:"attempts"`
	}{attempts})
}

// engineClock gives the engine the server's clock for timestamps and real
// timers for its schedule.
type engineClock struct{ now func() time.Time }

func (c engineClock) Now() time.Time { return c.now() }
func (c engineClock) AfterFunc(d time.Duration, f func()) delivery.Timer {
	return time.AfterFunc(d, f)
}

func (s *Server) engineOptions() delivery.Options {
	c := s.cfg
	return delivery.Options{
		Client:         c.HTTPClient,
		Clock:          engineClock{now: c.Now},
		TimeScale:      1 / c.TimeScale, // the engine multiplies
		RetryWindow:    c.RetryWindow,
		BackoffBase:    c.RetryBackoff,
		BackoffMax:     c.RetryBackoffMax,
		AttemptTimeout: c.AttemptTimeout,
		OnOutcome:      s.onOutcome,
		Logger:         c.Logger,
	}
}

// onOutcome counts consecutive failed attempts per registered webhook and
// disables one that reaches the threshold.
func (s *Server) onOutcome(webhookID string, ok bool) {
	s.mu.Lock()
	wh, found := s.webhooks[webhookID]
	disable := false
	if found {
		if ok {
			wh.failures = 0
		} else {
			wh.failures++
			if wh.failures >= s.cfg.FailureThreshold && wh.state == stateEnabled {
				wh.state = stateDisabledDueToFailedDeliveries
				wh.updated = s.now()
				disable = true
			}
		}
	}
	s.mu.Unlock()
	if disable {
		s.cfg.Logger.Warn("emulator: webhook disabled after failed deliveries", "webhook", webhookID)
		s.engine.CancelWebhook(webhookID)
	}
}

// newDeliveryID returns a webhook-id as live deliveries carry them: "msg_"
// and a random (version 4) UUID (python-genai#2927).
func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "msg_" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// enqueueStatic queues a delivery to a registered webhook, signed v1 with
// every secret live at each attempt.
func (s *Server) enqueueStatic(id, webhookID, uri string, body []byte) {
	s.enqueue(delivery.Delivery{
		ID: id, URI: uri, Body: body, WebhookID: webhookID,
		Sign: s.staticSigner(webhookID),
	})
}

func (s *Server) enqueue(d delivery.Delivery) {
	if err := s.engine.Enqueue(d); err != nil {
		s.cfg.Logger.Warn("emulator: delivery not queued", "uri", d.URI, "err", err)
	}
}

func (s *Server) staticSigner(webhookID string) func(uri, id string, ts time.Time, body []byte) (string, error) {
	return func(_, id string, ts time.Time, body []byte) (string, error) {
		s.mu.Lock()
		var secrets []string
		if wh, ok := s.webhooks[webhookID]; ok {
			secrets = wh.liveSecrets(s.now())
		}
		s.mu.Unlock()
		if len(secrets) == 0 {
			return "", errorf("webhook %s has no live secret", webhookID)
		}
		return signature(signing.Signer{Secrets: secrets}, id, ts, body)
	}
}

// signature returns the webhook-signature value s signs a delivery with.
func signature(s signing.Signer, id string, ts time.Time, body []byte) (string, error) {
	h := http.Header{}
	if err := s.Sign(h, id, ts, body); err != nil {
		return "", err
	}
	return h.Get(signing.HeaderSignature), nil
}

// dynamicSigner signs a webhook_config delivery with the job's scheme, or
// the server's default when the job chose none.
func (s *Server) dynamicSigner(scheme signing.Scheme) func(uri, id string, ts time.Time, body []byte) (string, error) {
	if scheme == "" {
		scheme = s.cfg.DynamicSigning
	}
	return func(uri, id string, ts time.Time, body []byte) (string, error) {
		if scheme == signing.SchemeEd25519 {
			return signature(signing.Signer{Ed25519: s.keys.edKey}, id, ts, body)
		}
		key, kid, err := s.keys.rsa()
		if err != nil {
			return "", err
		}
		return signature(signing.Signer{RSA: key, KID: kid, Issuer: s.URL, Audience: uri, Lifetime: jwtLifetime}, id, ts, body)
	}
}

// publish delivers a job's terminal (or requires_action) event: to the job's
// webhook_config URIs when it has any, otherwise to every enabled
// registered webhook subscribed to the event's type. Every endpoint gets the
// same webhook-id for one event, as Standard Webhooks senders do.
func (s *Server) publish(d event.Data, cfg *webhookConfig) {
	ts := s.now()
	id := newDeliveryID()
	if cfg != nil && len(cfg.URIs) > 0 {
		body, err := event.Marshal(d, ts, cfg.UserMetadata)
		if err != nil {
			s.cfg.Logger.Error("emulator: marshal event", "err", err)
			return
		}
		sign := s.dynamicSigner(cfg.scheme)
		for _, uri := range cfg.URIs {
			s.enqueue(delivery.Delivery{ID: id, URI: uri, Body: body, Sign: sign})
		}
		return
	}
	body, err := event.Marshal(d, ts, nil)
	if err != nil {
		s.cfg.Logger.Error("emulator: marshal event", "err", err)
		return
	}
	ev, err := event.Parse(body)
	if err != nil {
		s.cfg.Logger.Error("emulator: parse event", "err", err)
		return
	}
	type target struct{ id, uri string }
	var targets []target
	s.mu.Lock()
	for _, id := range s.whOrder {
		wh := s.webhooks[id]
		if wh.state == stateEnabled && wh.subscribed(ev.Type) {
			targets = append(targets, target{id, wh.uri})
		}
	}
	s.mu.Unlock()
	for _, t := range targets {
		s.enqueueStatic(id, t.id, t.uri, body)
	}
}

// webhookConfig is a job's per-request webhook_config.
type webhookConfig struct {
	URIs         []string       `json:"uris,omitempty"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
	// scheme is the job's SigningHeader; "" means the server's default.
	scheme signing.Scheme
}

// parseWebhookConfig validates a webhook_config object found at path at.
// strictMetadata rejects the camelCase userMetadata, as the batch endpoint
// does (genai Go sends it that way: googleapis/go-genai#779).
func (s *Server) parseWebhookConfig(raw json.RawMessage, at string, strictMetadata bool) (*webhookConfig, *apiError) {
	m, e := parseObject(raw)
	if e != nil {
		return nil, e
	}
	for k := range m {
		switch {
		case k == "uris", k == "user_metadata":
		case k == "userMetadata" && !strictMetadata:
		default:
			return nil, unknownName(k, at)
		}
	}
	cfg := &webhookConfig{}
	if _, e := decodeField(m, "uris", &cfg.URIs); e != nil {
		return nil, e
	}
	if _, e := decodeField(m, "user_metadata", &cfg.UserMetadata); e != nil {
		return nil, e
	}
	for i, u := range cfg.URIs {
		if e := s.checkURI(u, at+".uris["+itoa(i)+"]"); e != nil {
			return nil, e
		}
	}
	return cfg, nil
}
