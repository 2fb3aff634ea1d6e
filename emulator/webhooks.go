package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/internal/loopback"
)

// Webhook states, as the API spells them.
const (
	stateEnabled                       = "enabled"
	stateDisabled                      = "disabled"
	stateDisabledDueToFailedDeliveries = "disabled_due_to_failed_deliveries"
)

const rotationGrace = 24 * time.Hour

type webhook struct {
	id, name, uri string
	events        []string
	state         string
	secrets       []secret // newest first
	created       time.Time
	updated       time.Time
	failures      int // consecutive failed delivery attempts
}

type secret struct {
	value  string
	expire time.Time // zero: no expiry
}

// liveSecrets are the secrets a delivery is signed with at now.
func (wh *webhook) liveSecrets(now time.Time) []string {
	var out []string
	for _, sc := range wh.secrets {
		if sc.expire.IsZero() || now.Before(sc.expire) {
			out = append(out, sc.value)
		}
	}
	return out
}

// subscribed reports whether wh takes events of type t: a subscription to
// an alias (batch.completed) takes its canonical type.
func (wh *webhook) subscribed(t event.Type) bool {
	for _, e := range wh.events {
		if event.Type(e).Canonical() == t.Canonical() {
			return true
		}
	}
	return false
}

type secretJSON struct {
	TruncatedSecret string `json:"truncated_secret"`
	ExpireTime      string `json:"expire_time,omitempty"`
}

type webhookJSON struct {
	ID               string       `json:"id"`
	Name             string       `json:"name,omitempty"`
	URI              string       `json:"uri"`
	SubscribedEvents []string     `json:"subscribed_events"`
	State            string       `json:"state"`
	NewSigningSecret string       `json:"new_signing_secret,omitempty"`
	SigningSecrets   []secretJSON `json:"signing_secrets,omitempty"`
	CreateTime       string       `json:"create_time,omitempty"`
	UpdateTime       string       `json:"update_time,omitempty"`
}

func (wh *webhook) view(now time.Time) webhookJSON {
	v := webhookJSON{
		ID: wh.id, Name: wh.name, URI: wh.uri, State: wh.state,
		SubscribedEvents: slices.Clone(wh.events),
		CreateTime:       formatTime(wh.created),
		UpdateTime:       formatTime(wh.updated),
	}
	for _, sc := range wh.secrets {
		if !sc.expire.IsZero() && !now.Before(sc.expire) {
			continue
		}
		v.SigningSecrets = append(v.SigningSecrets, secretJSON{
			TruncatedSecret: truncateSecret(sc.value),
			ExpireTime:      formatTime(sc.expire),
		})
	}
	return v
}

// newSecret makes a "whsec_" + base64(32 random bytes) secret, the observed
// shape.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func truncateSecret(s string) string { return "whsec_..." + s[len(s)-4:] }

func (s *Server) routeWebhooks(w http.ResponseWriter, r *http.Request, segs []string) *apiError {
	if len(segs) == 0 {
		switch r.Method {
		case http.MethodGet:
			return s.listWebhooks(w, r)
		case http.MethodPost:
			return s.createWebhook(w, r)
		}
		return errMethodNotFound
	}
	if len(segs) != 1 {
		return errMethodNotFound
	}
	id, verb, _ := strings.Cut(segs[0], ":")
	switch {
	case verb == "" && r.Method == http.MethodGet:
		return s.getWebhook(w, id)
	case verb == "" && r.Method == http.MethodPatch:
		return s.updateWebhook(w, r, id)
	case verb == "" && r.Method == http.MethodDelete:
		return s.deleteWebhook(w, id)
	case verb == "ping" && r.Method == http.MethodPost:
		return s.pingWebhook(w, r, id)
	case verb == "rotateSigningSecret" && r.Method == http.MethodPost:
		return s.rotateSecret(w, r, id)
	}
	return errMethodNotFound
}

func webhookNotFound(id string) *apiError {
	return errNotFound(fmt.Sprintf("Webhook %q not found.", id))
}

func (s *Server) checkURI(raw, at string) *apiError {
	u, err := url.Parse(raw)
	// Hostname, not Host: "https://:443/x" has a Host, and would be
	// delivered to whatever listens on this machine's port 443.
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errInvalid(fmt.Sprintf("Invalid value at '%s': %q is not a valid URL.", at, raw))
	}
	if u.Scheme == "http" && !(s.cfg.InsecureAllowHTTPLoopback && loopback.Host(u.Hostname())) {
		return errInvalid(fmt.Sprintf("Invalid value at '%s': the URI must use https.", at))
	}
	return nil
}

func checkEvents(events []string, at string) *apiError {
	if len(events) == 0 {
		return errInvalid(fmt.Sprintf("Invalid value at '%s': at least one event is required.", at))
	}
	for i, e := range events {
		// Any type event knows: the SDK enum, the two documented
		// cancellation events and the batch.completed alias used by early
		// official samples.
		if _, known := event.Lookup(event.Type(e)); !known {
			return errInvalid(fmt.Sprintf("Invalid value at '%s[%d]' (TYPE_ENUM), %q", at, i, e))
		}
	}
	return nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	if e := rejectUnknown(body, "", "uri", "subscribed_events", "name"); e != nil {
		return e
	}
	var in struct {
		uri, name string
		events    []string
	}
	for _, f := range []struct {
		name string
		dst  any
	}{{"uri", &in.uri}, {"name", &in.name}, {"subscribed_events", &in.events}} {
		if _, e := decodeField(body, f.name, f.dst); e != nil {
			return e
		}
	}
	if in.uri == "" {
		return errInvalid("Invalid value at 'uri': the URI is required.")
	}
	if e := s.checkURI(in.uri, "uri"); e != nil {
		return e
	}
	if e := checkEvents(in.events, "subscribed_events"); e != nil {
		return e
	}
	now := s.now()
	wh := &webhook{
		id: randomString(36), name: in.name, uri: in.uri, events: in.events,
		state: stateEnabled, secrets: []secret{{value: newSecret()}},
		created: now, updated: now,
	}
	s.mu.Lock()
	s.webhooks[wh.id] = wh
	s.whOrder = append(s.whOrder, wh.id)
	v := wh.view(now)
	s.mu.Unlock()
	v.NewSigningSecret = wh.secrets[0].value
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, id string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	wh, ok := s.webhooks[id]
	if !ok {
		return webhookNotFound(id)
	}
	writeJSON(w, http.StatusOK, wh.view(s.now()))
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) *apiError {
	size, start, e := pageParams(r)
	if e != nil {
		return e
	}
	var out struct {
		Webhooks      []webhookJSON `json:"webhooks,omitempty"`
		NextPageToken string        `json:"next_page_token,omitempty"`
	}
	now := s.now()
	s.mu.Lock()
	ids := s.whOrder
	if start > len(ids) {
		s.mu.Unlock()
		return errInvalid("Invalid page_token.")
	}
	end := min(start+size, len(ids))
	for _, id := range ids[start:end] {
		out.Webhooks = append(out.Webhooks, s.webhooks[id].view(now))
	}
	if end < len(ids) {
		out.NextPageToken = pageToken(end)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// pageParams reads page_size (default 50, at most 1000) and page_token, in
// either casing.
func pageParams(r *http.Request) (size, start int, e *apiError) {
	q := r.URL.Query()
	get := func(snake string) string {
		if v := q.Get(snake); v != "" {
			return v
		}
		return q.Get(lowerCamel(snake))
	}
	size = 50
	if v := get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, errInvalid(fmt.Sprintf("Invalid value at 'page_size' (TYPE_INT32), %q", v))
		}
		if n > 0 {
			size = min(n, 1000)
		}
	}
	if t := get("page_token"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err == nil {
			start, err = strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		}
		if err != nil || start < 0 || !strings.HasPrefix(string(b), "offset:") {
			return 0, 0, errInvalid("Invalid page_token.")
		}
	}
	return size, start, nil
}

func pageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

var updatable = []string{"name", "uri", "subscribed_events", "state"}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, id string) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	if e := rejectUnknown(body, "", updatable...); e != nil {
		return e
	}
	// With an update_mask only the named fields change (a named field absent
	// from the body is cleared); without one every field present changes.
	var paths []string
	mask := r.URL.Query().Get("update_mask")
	if mask == "" {
		mask = r.URL.Query().Get("updateMask")
	}
	if mask != "" {
		for p := range strings.SplitSeq(mask, ",") {
			p = strings.TrimSpace(p)
			found := false
			for _, u := range updatable {
				if p == u || p == lowerCamel(u) {
					paths, found = append(paths, u), true
					break
				}
			}
			if !found {
				return errInvalid(fmt.Sprintf("Invalid update_mask: unknown field %q.", p))
			}
		}
	} else {
		for _, u := range updatable {
			if _, ok := field(body, u); ok {
				paths = append(paths, u)
			}
		}
	}
	var in struct {
		name, uri, state string
		events           []string
	}
	dst := map[string]any{"name": &in.name, "uri": &in.uri, "state": &in.state, "subscribed_events": &in.events}
	for _, p := range paths {
		if _, e := decodeField(body, p, dst[p]); e != nil {
			return e
		}
	}
	for _, p := range paths {
		switch p {
		case "uri":
			if e := s.checkURI(in.uri, "uri"); e != nil {
				return e
			}
		case "subscribed_events":
			if e := checkEvents(in.events, "subscribed_events"); e != nil {
				return e
			}
		case "state":
			if in.state != stateEnabled && in.state != stateDisabled {
				return errInvalid(fmt.Sprintf("Invalid value at 'state': %q cannot be set; use %q or %q.", in.state, stateEnabled, stateDisabled))
			}
		}
	}
	now := s.now()
	s.mu.Lock()
	wh, ok := s.webhooks[id]
	if !ok {
		s.mu.Unlock()
		return webhookNotFound(id)
	}
	for _, p := range paths {
		switch p {
		case "name":
			wh.name = in.name
		case "uri":
			wh.uri = in.uri
		case "subscribed_events":
			wh.events = in.events
		case "state":
			wh.state = in.state
			wh.failures = 0
		}
	}
	wh.updated = now
	v := wh.view(now)
	disabled := wh.state != stateEnabled
	s.mu.Unlock()
	if disabled {
		// A disabled webhook gets nothing more, retries included.
		s.engine.CancelWebhook(id)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, id string) *apiError {
	s.mu.Lock()
	_, ok := s.webhooks[id]
	if ok {
		delete(s.webhooks, id)
		s.whOrder = slices.DeleteFunc(s.whOrder, func(x string) bool { return x == id })
	}
	s.mu.Unlock()
	if !ok {
		return webhookNotFound(id)
	}
	s.engine.CancelWebhook(id)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request, id string) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	if e := rejectUnknown(body, "", "revocation_behavior"); e != nil {
		return e
	}
	var behavior string
	if _, e := decodeField(body, "revocation_behavior", &behavior); e != nil {
		return e
	}
	immediate := false
	switch strings.ToLower(behavior) {
	case "", "revoke_previous_secrets_after_h24":
	case "revoke_previous_secrets_immediately":
		immediate = true
	default:
		return errInvalid(fmt.Sprintf("Invalid value at 'revocation_behavior' (TYPE_ENUM), %q", behavior))
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	wh, ok := s.webhooks[id]
	if !ok {
		return webhookNotFound(id)
	}
	fresh := secret{value: newSecret()}
	if immediate {
		wh.secrets = []secret{fresh}
	} else {
		kept := []secret{fresh}
		for _, sc := range wh.secrets {
			if sc.expire.IsZero() {
				sc.expire = now.Add(rotationGrace)
			}
			if now.Before(sc.expire) {
				kept = append(kept, sc)
			}
		}
		wh.secrets = kept
	}
	wh.updated = now
	writeJSON(w, http.StatusOK, struct {
		Secret string `json:"secret"`
	}{fresh.value})
	return nil
}

func (s *Server) pingWebhook(w http.ResponseWriter, r *http.Request, id string) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	if e := rejectUnknown(body, ""); e != nil {
		return e
	}
	now := s.now()
	s.mu.Lock()
	wh, ok := s.webhooks[id]
	var uri string
	if ok {
		uri = wh.uri
	}
	s.mu.Unlock()
	if !ok {
		return webhookNotFound(id)
	}
	payload, err := json.Marshal(map[string]any{
		"type": "webhook.ping", "version": "v1", "timestamp": now.Format(time.RFC3339),
		"data": map[string]string{"id": id},
	})
	if err != nil {
		return &apiError{Code: http.StatusInternalServerError, Status: "INTERNAL", Message: "Internal error encountered."}
	}
	s.enqueueStatic(newDeliveryID(), id, uri, payload)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
