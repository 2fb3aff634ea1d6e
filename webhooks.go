package geminihooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// is kept as sent, so compare with the constants and keep a default case.
type State string

// The states the API documents.
const (
	StateEnabled  State = "enabled"
	StateDisabled State = "disabled"
	// StateDisabledDueToFailedDeliveries is set by the API after repeated
	// delivery failures; an Update to StateEnabled turns the webhook back on.
	StateDisabledDueToFailedDeliveries State = "disabled_due_to_failed_deliveries"
)

// Secret is a full webhook signing secret ("whsec_" + base64). The API shows a
// secret only once. fmt (every verb, %#v included) and slog print it as
// "whsec_[redacted]", so a Secret logged or printed by accident does not leak;
// use string(s) where the secret itself is needed, such as
// signing.Config.Secrets. encoding/json writes it as is, for storage.
type Secret string

// redactedSecret is what a Secret prints as.
const redactedSecret = "whsec_[redacted]"

// Format prints the secret redacted, whatever the verb: a String method
// alone would leave %#v printing the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		io.WriteString(f, `geminihooks.Secret("`+redactedSecret+`")`)
	case verb == 'q':
		io.WriteString(f, strconv.Quote(redactedSecret))
	default:
		io.WriteString(f, redactedSecret)
	}
}

// LogValue hides the secret from slog, whose JSON handler would otherwise
// encode it as is.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redactedSecret) }

// SigningSecret describes one of a webhook's current signing secrets. During a
// rotation grace period a webhook has several.
type SigningSecret struct {
	// Truncated is the API's truncated form, such as "whsec_...3frh".
	Truncated string `json:"truncated"`
	// ExpireTime is when a rotated-out secret stops being used; zero while the
	// secret has no expiry.
	ExpireTime time.Time `json:"expire_time,omitzero"`
}

// Webhook is a registered webhook. Create reads URI, Events and Name from
// one; the API sets the rest.
//
// The JSON tags are for callers that print or store webhooks; the API's own
// JSON is decoded separately.
type Webhook struct {
	ID string `json:"id"`
	// Name is an optional label.
	Name string `json:"name,omitempty"`
	// URI receives the deliveries. It must be https (loopback http with
	// Config.InsecureLoopbackHTTP).
	URI string `json:"uri"`
	// Events are the subscribed event types: at least one to Create. Types
	// this package does not know are kept as sent.
	Events         []event.Type    `json:"events"`
	State          State           `json:"state"`
	SigningSecrets []SigningSecret `json:"signing_secrets,omitempty"`
	// CreateTime and UpdateTime are zero when the API leaves them out or
	// empty, as it has been seen to do.
	CreateTime time.Time `json:"create_time,omitzero"`
	UpdateTime time.Time `json:"update_time,omitzero"`
}

// WebhookUpdate names the fields Update changes; nil fields are left alone.
// The request's update_mask lists exactly the non-nil fields. State
// new(StateEnabled) turns deliveries back on, also after the API disabled
// the webhook for failed deliveries; new(StateDisabled) stops them without
// deleting the webhook.
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

// revocationBehavior is the API's name for how long RotateSigningSecret
// keeps the previous secrets valid; the API knows these two.
var revocationBehavior = map[time.Duration]string{
	24 * time.Hour: "revoke_previous_secrets_after_h24",
	0:              "revoke_previous_secrets_immediately",
}

// Create registers the webhook w describes (its URI, Events and Name) and
// returns it with its signing secret. The API shows the secret only this
// once: store it now (RotateSigningSecret is the only way to get another).
func (s *WebhooksService) Create(ctx context.Context, w Webhook) (*Webhook, Secret, error) {
	if err := s.client.checkURI(w.URI); err != nil {
		return nil, "", fmt.Errorf("geminihooks: create webhook: %w", err)
	}
	if len(w.Events) == 0 {
		return nil, "", errors.New("geminihooks: create webhook: no events to subscribe to")
	}
	events, err := wireEvents(w.Events)
	if err != nil {
		return nil, "", fmt.Errorf("geminihooks: create webhook: %w", err)
	}
	in := struct {
		URI    string   `json:"uri"`
		Events []string `json:"subscribed_events"`
		Name   string   `json:"name,omitempty"`
	}{w.URI, events, w.Name}
	var out wireWebhook
	if err := s.client.do(ctx, http.MethodPost, "webhooks", nil, in, &out); err != nil {
		return nil, "", s.client.convertError("create webhook", err)
	}
	return out.webhook(), Secret(out.NewSigningSecret), nil
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
// Like Create's, the new secret is shown only once. revokeAfter is how long
// the previous secrets stay valid: 24*time.Hour for a routine rotation, so
// receivers switch over without dropping deliveries, or 0 to invalidate them
// at once, as after a leak. The API offers no other period.
func (s *WebhooksService) RotateSigningSecret(ctx context.Context, id string, revokeAfter time.Duration) (Secret, error) {
	behavior, ok := revocationBehavior[revokeAfter]
	if !ok {
		return "", fmt.Errorf("geminihooks: rotate signing secret: revokeAfter is %v, need 24h or 0 (at once)", revokeAfter)
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
