package geminihooks

import "testing"

// Names that go into raw request paths must not be able to reach another
// endpoint with the API key.
func TestResourcePaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"batches/abc123", "batches/abc123", true},
		{"abc_12-3", "batches/abc_12-3", true},
		{"batches/x/../../webhooks", "", false},
		{"batches/a?b", "", false},
		{"batches/", "", false},
		{"", "", false},
	} {
		got, err := batchPath(tc.name)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("batchPath(%q) = %q, %v; want %q, ok %v", tc.name, got, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		id, want string
		ok       bool
	}{
		{"k0h9q38f", "webhooks/k0h9q38f:ping", true},
		{"webhooks/k0h9q38f", "webhooks/k0h9q38f:ping", true},
		{"../models", "", false},
		{"", "", false},
	} {
		got, err := webhookPath(tc.id, ":ping")
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("webhookPath(%q) = %q, %v; want %q, ok %v", tc.id, got, err, tc.want, tc.ok)
		}
	}
}
