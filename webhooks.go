package geminihooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
)

// WebhooksService manages the project's registered (static) webhooks: the
// WebhookService of the Gemini API.
type WebhooksService service

// State is a webhook's delivery state. The API may add states; an unknown one
// is kept as sent, so compare with the constants rather than switch
// exhaustively.
type State string

// The states the API documents.
const (
	StateEnabled  State = "enabled"
	StateDisabled State = "disabled"
	// StateDisabledDueToFailedDeliveries is set by the API after repeated
	// delivery failures; Enable turns the webhook back on.
	StateDisabledDueToFailedDeliveries State = "disabled_due_to_failed_deliveries"
)

// Known reports whether s is one of the documented states.
func (s State) Known() bool {
	switch s {
	case StateEnabled, StateDisabled, StateDisabledDueToFailedDeliveries:
		return true
	}
	return false
}

// Secret is a full webhook signing secret ("whsec_" + base64). The API shows a
// secret only once. Its String, GoString and LogValue methods print
// "whsec_[redacted]", so a Secret logged or printed by accident does not leak;
// use string(s) where the secret itself is needed, such as
// signing.Config.Secrets.
type Secret string

func (s Secret) String() string { return "whsec_[redacted]" }

// GoString hides the secret from %#v as well.
func (s Secret) GoString() string { return `geminihooks.Secret("whsec_[redacted]")` }

// LogValue hides the secret from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// SigningSecret describes one of a webhook's current signing secrets. During a
// rotation grace period a webhook has several.
type SigningSecret struct {
	// Truncated is the API's truncated form, such as "whsec_...3frh".
	Truncated string `json:"truncated"`
	// ExpireTime is when a rotated-out secret stops being used; zero while the
	// secret has no expiry.
	ExpireTime time.Time `json:"expire_time,omitzero"`
}

// Webhook is a registered webhook.
//
// The JSON tags are for callers that print or store webhooks (the CLI's
// --json output); the API's own JSON is decoded separately.
type Webhook struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	URI  string `json:"uri"`
	// Events are the subscribed event types. Types this package does not
	// know are kept as sent.
	Events         []event.Type    `json:"events"`
	State          State           `json:"state"`
	SigningSecrets []SigningSecret `json:"signing_secrets,omitempty"`
	// CreateTime and UpdateTime are zero when the API leaves them out or
	// empty, as it has been seen to do.
	CreateTime time.Time `json:"create_time,omitzero"`
	UpdateTime time.Time `json:"update_time,omitzero"`
}

// CreatedWebhook is the answer to Create: the new webhook and its signing
// secret.
type CreatedWebhook struct {
	Webhook
	// Secret is the webhook's full signing secret. The API returns it only
	// in this answer and never again: store it now (RotateSigningSecret is
	// the only way to get another). Encoding a CreatedWebhook as JSON
	// includes it; printing or logging it does not.
	Secret Secret `json:"secret"`
}

// LogValue keeps the secret out of slog, whose JSON handler would otherwise
// encode the Secret field as is.
func (c CreatedWebhook) LogValue() slog.Value {
	return slog.AnyValue(struct {
		Webhook
		Secret string `json:"secret"`
	}{c.Webhook, Secret("").String()})
}

// WebhookSpec describes a webhook to create.
type WebhookSpec struct {
	// URI receives the deliveries. It must be https (see
	// WithAllowInsecureCallbacks for loopback http).
	URI string
	// Events to subscribe to; at least one.
	Events []event.Type
	// Name is an optional label.
	Name string
}

// WebhookUpdate names the fields Update changes; nil fields are left alone.
// The request's update_mask lists exactly the non-nil fields.
type WebhookUpdate struct {
	Name   *string
	URI    *string
	Events []event.Type // nil leaves the subscription alone
	State  *State
}

// ListOptions selects a page of a list.
type ListOptions struct {
	// PageSize is the maximum number of items; 0 lets the API choose (50).
	// The API caps it at 1000.
	PageSize int
	// PageToken is a previous page's NextPageToken; "" asks for the first
	// page.
	PageToken string
}

// WebhookPage is one page of webhooks.
type WebhookPage struct {
	Webhooks []*Webhook
	// NextPageToken asks List for the following page; "" on the last page.
	NextPageToken string
}

// Revocation says what RotateSigningSecret does with the secrets it replaces.
type Revocation int

const (
	// RevokeAfter24h keeps the previous secrets valid for 24 hours, so
	// receivers can switch to the new one without dropping deliveries.
	RevokeAfter24h Revocation = iota + 1
	// RevokeImmediately invalidates the previous secrets at once, as after a
	// leak.
	RevokeImmediately
)

func (r Revocation) wire() (string, error) {
	switch r {
	case RevokeAfter24h:
		return "revoke_previous_secrets_after_h24", nil
	case RevokeImmediately:
		return "revoke_previous_secrets_immediately", nil
	}
	return "", fmt.Errorf("geminihooks: unknown revocation %d: use RevokeAfter24h or RevokeImmediately", int(r))
}

// Ptr returns a pointer to v, for optional pointer fields: WebhookUpdate's, genai's, and interactions' (Input, Function.Name).
func Ptr[T any](v T) *T { return &v }

// Create registers a webhook. The answer carries the webhook's signing secret,
// which the API shows only this once.
func (s *WebhooksService) Create(ctx context.Context, spec WebhookSpec) (*CreatedWebhook, error) {
	if err := s.client.checkURI(spec.URI); err != nil {
		return nil, fmt.Errorf("geminihooks: create webhook: %w", err)
	}
	if len(spec.Events) == 0 {
		return nil, errors.New("geminihooks: create webhook: no events to subscribe to")
	}
	events, err := wireEvents(spec.Events)
	if err != nil {
		return nil, fmt.Errorf("geminihooks: create webhook: %w", err)
	}
	in := struct {
		URI    string   `json:"uri"`
		Events []string `json:"subscribed_events"`
		Name   string   `json:"name,omitempty"`
	}{spec.URI, events, spec.Name}
	var out wireWebhook
	if err := s.client.do(ctx, http.MethodPost, "webhooks", nil, in, &out); err != nil {
		return nil, s.client.convertError("create webhook", err)
	}
	return &CreatedWebhook{Webhook: *out.webhook(), Secret: Secret(out.NewSigningSecret)}, nil
}

// Get returns the webhook with the given ID.
func (s *WebhooksService) Get(ctx context.Context, id string) (*Webhook, error) {
	p, err := webhookPath(id, "")
	if err != nil {
		return nil, err
	}
	var out wireWebhook
	if err := s.client.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, s.client.convertError("get webhook", err)
	}
	return out.webhook(), nil
}

// List returns one page of webhooks. See All to walk every page.
func (s *WebhooksService) List(ctx context.Context, opts *ListOptions) (*WebhookPage, error) {
	q := url.Values{}
	if opts != nil {
		if opts.PageSize < 0 {
			return nil, fmt.Errorf("geminihooks: list webhooks: negative page size %d", opts.PageSize)
		}
		if opts.PageSize > 0 {
			q.Set("page_size", strconv.Itoa(opts.PageSize))
		}
		if opts.PageToken != "" {
			q.Set("page_token", opts.PageToken)
		}
	}
	var out struct {
		Webhooks      []wireWebhook `json:"webhooks"`
		NextPageToken string        `json:"next_page_token"`
	}
	if err := s.client.do(ctx, http.MethodGet, "webhooks", q, nil, &out); err != nil {
		return nil, s.client.convertError("list webhooks", err)
	}
	page := &WebhookPage{NextPageToken: out.NextPageToken, Webhooks: make([]*Webhook, 0, len(out.Webhooks))}
	for i := range out.Webhooks {
		page.Webhooks = append(page.Webhooks, out.Webhooks[i].webhook())
	}
	return page, nil
}

// All iterates over every webhook, fetching pages as it goes. It starts from
// opts (which it copies; nil means the first page) and stops after the first
// error, which it yields.
func (s *WebhooksService) All(ctx context.Context, opts *ListOptions) iter.Seq2[*Webhook, error] {
	var start ListOptions
	if opts != nil {
		start = *opts
	}
	return func(yield func(*Webhook, error) bool) {
		o := start
		// Every token asked for so far: a server that cycles (a, b, a, ...)
		// would otherwise keep All fetching forever.
		seen := map[string]bool{o.PageToken: true}
		for {
			page, err := s.List(ctx, &o)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, w := range page.Webhooks {
				if !yield(w, nil) {
					return
				}
			}
			if page.NextPageToken == "" {
				return
			}
			if seen[page.NextPageToken] {
				yield(nil, errors.New("geminihooks: list webhooks: the API repeated a page token"))
				return
			}
			seen[page.NextPageToken] = true
			o.PageToken = page.NextPageToken
		}
	}
}

// Update changes the fields set in u and returns the updated webhook.
func (s *WebhooksService) Update(ctx context.Context, id string, u WebhookUpdate) (*Webhook, error) {
	p, err := webhookPath(id, "")
	if err != nil {
		return nil, err
	}
	var (
		mask []string
		in   = map[string]any{}
	)
	if u.Name != nil {
		mask = append(mask, "name")
		in["name"] = *u.Name
	}
	if u.URI != nil {
		if err := s.client.checkURI(*u.URI); err != nil {
			return nil, fmt.Errorf("geminihooks: update webhook: %w", err)
		}
		mask = append(mask, "uri")
		in["uri"] = *u.URI
	}
	if u.Events != nil {
		if len(u.Events) == 0 {
			return nil, errors.New("geminihooks: update webhook: empty event list (a webhook needs at least one event)")
		}
		events, err := wireEvents(u.Events)
		if err != nil {
			return nil, fmt.Errorf("geminihooks: update webhook: %w", err)
		}
		mask = append(mask, "subscribed_events")
		in["subscribed_events"] = events
	}
	if u.State != nil {
		if *u.State == "" {
			return nil, errors.New("geminihooks: update webhook: empty state")
		}
		mask = append(mask, "state")
		in["state"] = string(*u.State)
	}
	if len(mask) == 0 {
		return nil, errors.New("geminihooks: update webhook: no fields to update")
	}
	q := url.Values{"update_mask": {strings.Join(mask, ",")}}
	var out wireWebhook
	if err := s.client.do(ctx, http.MethodPatch, p, q, in, &out); err != nil {
		return nil, s.client.convertError("update webhook", err)
	}
	return out.webhook(), nil
}

// Enable turns deliveries back on, including after the API disabled the
// webhook for failed deliveries.
func (s *WebhooksService) Enable(ctx context.Context, id string) (*Webhook, error) {
	return s.Update(ctx, id, WebhookUpdate{State: Ptr(StateEnabled)})
}

// Disable stops deliveries to the webhook without deleting it.
func (s *WebhooksService) Disable(ctx context.Context, id string) (*Webhook, error) {
	return s.Update(ctx, id, WebhookUpdate{State: Ptr(StateDisabled)})
}

// Delete removes the webhook.
func (s *WebhooksService) Delete(ctx context.Context, id string) error {
	p, err := webhookPath(id, "")
	if err != nil {
		return err
	}
	if err := s.client.do(ctx, http.MethodDelete, p, nil, nil, nil); err != nil {
		return s.client.convertError("delete webhook", err)
	}
	return nil
}

// Ping asks the API to send the webhook a test delivery.
func (s *WebhooksService) Ping(ctx context.Context, id string) error {
	p, err := webhookPath(id, ":ping")
	if err != nil {
		return err
	}
	if err := s.client.do(ctx, http.MethodPost, p, nil, struct{}{}, nil); err != nil {
		return s.client.convertError("ping webhook", err)
	}
	return nil
}

// RotateSigningSecret gives the webhook a new signing secret and returns it.
// Like Create's, the new secret is shown only once. r says whether the
// previous secrets stay valid for 24 hours or stop at once.
func (s *WebhooksService) RotateSigningSecret(ctx context.Context, id string, r Revocation) (Secret, error) {
	behavior, err := r.wire()
	if err != nil {
		return "", err
	}
	p, err := webhookPath(id, ":rotateSigningSecret")
	if err != nil {
		return "", err
	}
	in := struct {
		Behavior string `json:"revocation_behavior"`
	}{behavior}
	var out struct {
		Secret string `json:"secret"`
	}
	if err := s.client.do(ctx, http.MethodPost, p, nil, in, &out); err != nil {
		return "", s.client.convertError("rotate signing secret", err)
	}
	if out.Secret == "" {
		return "", errors.New("geminihooks: rotate signing secret: the answer carried no secret")
	}
	return Secret(out.Secret), nil
}

// webhookPath validates a webhook ID (bare, or as "webhooks/ID") and returns
// its path with an optional ":verb".
func webhookPath(id, verb string) (string, error) {
	id = strings.TrimPrefix(id, "webhooks/")
	if id == "" {
		return "", errors.New("geminihooks: empty webhook id")
	}
	if !validID(id) {
		return "", fmt.Errorf("geminihooks: invalid webhook id %q", id)
	}
	return "webhooks/" + id + verb, nil
}

// validID reports whether id is a resource id safe to put in a path.
func validID(id string) bool {
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return id != ""
}

func wireEvents(types []event.Type) ([]string, error) {
	out := make([]string, 0, len(types))
	seen := make(map[event.Type]bool, len(types))
	for _, t := range types {
		if t == "" {
			return nil, errors.New("empty event type")
		}
		if seen[t] {
			return nil, fmt.Errorf("event type %q listed twice", t)
		}
		seen[t] = true
		out = append(out, string(t))
	}
	return out, nil
}

// wireWebhook is the WebhookService's JSON resource. Times are decoded
// leniently: the API has been seen to send them empty.
type wireWebhook struct {
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	URI              string       `json:"uri"`
	SubscribedEvents []string     `json:"subscribed_events"`
	State            string       `json:"state"`
	NewSigningSecret string       `json:"new_signing_secret"`
	SigningSecrets   []wireSecret `json:"signing_secrets"`
	CreateTime       lenientTime  `json:"create_time"`
	UpdateTime       lenientTime  `json:"update_time"`
}

// UnmarshalJSON reads the resource as the SDKs send it, and two variants
// seen in documentation: the resource wrapped as {"webhook": {...}}, and a
// resource that names itself only by name ("webhooks/{id}") with no id.
func (w *wireWebhook) UnmarshalJSON(b []byte) error {
	type plain wireWebhook
	var outer struct {
		plain
		Webhook json.RawMessage `json:"webhook"`
	}
	if err := json.Unmarshal(b, &outer); err != nil {
		return err
	}
	*w = wireWebhook(outer.plain)
	if len(outer.Webhook) > 0 && string(outer.Webhook) != "null" && w.ID == "" && w.URI == "" {
		var inner plain
		if err := json.Unmarshal(outer.Webhook, &inner); err != nil {
			return err
		}
		if inner.NewSigningSecret == "" {
			inner.NewSigningSecret = w.NewSigningSecret
		}
		*w = wireWebhook(inner)
	}
	if w.ID == "" {
		if id, ok := strings.CutPrefix(w.Name, "webhooks/"); ok {
			// The resource name, not a label.
			w.ID, w.Name = id, ""
		}
	}
	return nil
}

type wireSecret struct {
	TruncatedSecret string      `json:"truncated_secret"`
	ExpireTime      lenientTime `json:"expire_time"`
}

func (w *wireWebhook) webhook() *Webhook {
	out := &Webhook{
		ID:         strings.TrimPrefix(w.ID, "webhooks/"),
		Name:       w.Name,
		URI:        w.URI,
		State:      State(w.State),
		CreateTime: time.Time(w.CreateTime),
		UpdateTime: time.Time(w.UpdateTime),
	}
	if len(w.SubscribedEvents) > 0 {
		out.Events = make([]event.Type, len(w.SubscribedEvents))
		for i, e := range w.SubscribedEvents {
			out.Events[i] = event.Type(e)
		}
	}
	if len(w.SigningSecrets) > 0 {
		out.SigningSecrets = make([]SigningSecret, len(w.SigningSecrets))
		for i, s := range w.SigningSecrets {
			out.SigningSecrets[i] = SigningSecret{Truncated: s.TruncatedSecret, ExpireTime: time.Time(s.ExpireTime)}
		}
	}
	return out
}

// lenientTime decodes an RFC 3339 time, and reads "", null and anything it
// cannot parse as the zero time: the times are informative, never required.
type lenientTime time.Time

func (t *lenientTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s == "" {
		*t = lenientTime{}
		return nil
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		*t = lenientTime{}
		return nil
	}
	*t = lenientTime(parsed)
	return nil
}
