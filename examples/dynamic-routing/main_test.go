package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/examples/internal/backend"
	"github.com/geminihooks/geminihooks/signing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	for _, scheme := range []signing.Scheme{signing.SchemeEd25519, signing.SchemeJWT} {
		t.Run(string(scheme), func(t *testing.T) {
			t.Parallel()
			emu, err := emulator.NewServer(&emulator.Config{InsecureAllowHTTPLoopback: true, Running: 10 * time.Millisecond, DynamicSigning: scheme})
			if err != nil {
				t.Fatal(err)
			}
			defer emu.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			res, err := run(ctx, config{
				backend:    backend.Config{Emulator: emu},
				batchModel: "gemini-2.5-flash", vidModel: "veo-3.0-generate-001", omniModel: "gemini-omni-1.2-flash",
			}, &out)
			if err != nil {
				t.Fatalf("run: %v\nlog:\n%s", err, &out)
			}

			// Each processor got exactly the jobs launched in its group,
			// each verified with the emulator's scheme.
			want := map[string][]handled{}
			var wantUnrouted []string
			for _, j := range res.Launched {
				typ := event.TypeBatchSucceeded
				if j.Kind == "video" || j.Kind == "video-interaction" {
					typ = event.TypeVideoGenerated
				}
				if j.Group == "legacy" {
					wantUnrouted = append(wantUnrouted, j.Name)
					continue
				}
				want[j.Group] = append(want[j.Group], handled{Job: j.Name, Type: typ, Scheme: string(scheme)})
			}
			if len(res.Launched) != len(plan) {
				t.Fatalf("launched %d jobs, want %d", len(res.Launched), len(plan))
			}
			sortHandled := cmpopts.SortSlices(func(a, b handled) bool { return a.Job < b.Job })
			if diff := cmp.Diff(want, res.Routed, sortHandled); diff != "" {
				t.Errorf("routed events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantUnrouted, res.Unrouted); diff != "" {
				t.Errorf("unrouted jobs (-want +got):\n%s", diff)
			}
			st := res.Stats
			if st.Stored != uint64(len(plan)) || st.Processed != uint64(len(plan)-1) || st.Dead != 1 || st.Retried != 0 {
				t.Errorf("stats = %+v, want %d stored, %d processed, 1 dead, no retries", st, len(plan), len(plan)-1)
			}
			for _, a := range emu.Attempts() {
				if !a.OK || a.WebhookID != "" {
					t.Errorf("attempt %+v: want a 2xx answer to a callback URI", a)
				}
			}
		})
	}
}
