package backend

import (
	"context"
	"strings"
	"testing"
)

// The real API is chosen only with an https public URL and a key; nothing
// is started otherwise.
func TestStartRealAPIChecks(t *testing.T) {
	for _, tc := range []struct {
		name, publicURL, key, wantErr string
	}{
		{name: "no key", publicURL: "https://hooks.example.com", wantErr: "GEMINI_API_KEY"},
		{name: "plain http", publicURL: "http://hooks.example.com", key: "k", wantErr: "https"},
		{name: "relative", publicURL: "hooks.example.com", key: "k", wantErr: "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GEMINI_API_KEY", tc.key)
			env, err := Start(context.Background(), Config{PublicURL: tc.publicURL, Addr: "127.0.0.1:0"})
			if err == nil {
				env.Close()
				t.Fatalf("Start succeeded, want an error mentioning %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Start = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestStartRealAPI(t *testing.T) {
	t.Setenv("GEMINI_API_KEY", "test-key")
	env, err := Start(context.Background(), Config{PublicURL: "https://hooks.example.com/base/", Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if env.Emulator != nil || env.BaseURL != GeminiBaseURL || env.HookURL != "https://hooks.example.com/base"+HookPath {
		t.Errorf("env = emulator %v, base %q, hook %q", env.Emulator != nil, env.BaseURL, env.HookURL)
	}
}
