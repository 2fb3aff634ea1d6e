package geminihooks

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestCallbackValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		insecure bool
		cb       Callback
		wantErr  string // "" for valid
	}{
		{"https", false, Callback{URIs: []string{"https://example.com/h?x=1"}}, ""},
		{"two https", false, Callback{URIs: []string{"https://a.example/h", "https://b.example/h"}, UserMetadata: map[string]any{"k": 1}}, ""},
		{"loopback http allowed", true, Callback{URIs: []string{"http://127.0.0.1:8080/h", "http://localhost/h", "http://[::1]:9/h"}}, ""},
		{"no uris", false, Callback{}, "no URIs"},
		{"http remote", false, Callback{URIs: []string{"http://example.com/h"}}, "must use https"},
		{"http remote even when allowed", true, Callback{URIs: []string{"http://example.com/h"}}, "must use https"},
		{"loopback http not allowed", false, Callback{URIs: []string{"http://127.0.0.1:8080/h"}}, "Config.InsecureLoopbackHTTP"},
		{"duplicate", false, Callback{URIs: []string{"https://a.example/h", "https://a.example/h"}}, "uri 2 of 2 (https://a.example/h) is listed twice"},
		{"second uri named from 1", false, Callback{URIs: []string{"https://a.example/h", "http://b.example/h"}}, "callback uri 2 of 2: invalid uri http://b.example/h: must use https"},
		{"ftp", false, Callback{URIs: []string{"ftp://a.example/h"}}, "must use https"},
		{"relative", false, Callback{URIs: []string{"/hooks"}}, "not absolute"},
		{"port but no host", false, Callback{URIs: []string{"https://:443/hooks"}}, "not absolute"},
		{"empty uri", false, Callback{URIs: []string{""}}, "invalid uri: empty"},
		{"credentials", false, Callback{URIs: []string{"https://user:pw@a.example/h"}}, "carries credentials"},
		{"fragment", false, Callback{URIs: []string{"https://a.example/h#frag"}}, "fragment"},
		{"long uri", false, Callback{URIs: []string{"https://a.example/" + strings.Repeat("a", maxCallbackURIBytes)}}, "longer than"},
		{"metadata chan", false, Callback{URIs: []string{"https://a.example/h"}, UserMetadata: map[string]any{"c": make(chan int)}}, "does not encode"},
		{"metadata NaN", false, Callback{URIs: []string{"https://a.example/h"}, UserMetadata: map[string]any{"n": math.NaN()}}, "does not encode"},
		{"metadata too big", false, Callback{URIs: []string{"https://a.example/h"}, UserMetadata: map[string]any{"s": strings.Repeat("a", maxUserMetadataBytes)}}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, "https://example.invalid", testAPIKey, &Config{InsecureLoopbackHTTP: tt.insecure})
			_, err := c.common.client.prepare(&tt.cb)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("valid callback rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("error %v does not wrap ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q shows URI credentials", err)
			}
		})
	}
}

func TestCallbackErrorHidesQuery(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, "https://example.invalid", testAPIKey, nil)
	_, err := c.common.client.prepare(&Callback{URIs: []string{"http://example.com/h?token=s3cr3t"}})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %v shows the URI's query", err)
	}
}

var testCallback = &Callback{
	URIs:         []string{"https://hooks.example.com/gemini"},
	UserMetadata: map[string]any{"order_id": "A-17", "attempt": 2, "big": 9007199254740993},
}

const wantWebhookConfig = `{"uris":["https://hooks.example.com/gemini"],"user_metadata":{"order_id":"A-17","attempt":2,"big":9007199254740993}}`

// at returns the value at path in a decoded JSON object.
func at(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func assertNoCamelCase(t *testing.T, body []byte) {
	t.Helper()
	for _, s := range []string{"userMetadata", "webhookConfig"} {
		if strings.Contains(string(body), s) {
			t.Errorf("body carries genai's camelCase %q: %s", s, body)
		}
	}
}
