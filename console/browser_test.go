package console_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
)

// chromium returns the path of a Chromium to drive. Outside CI the browser
// tests skip without one; in CI (CI=true) they fail, since .ci/run installs
// it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium binary on PATH, and CI=true: .ci/run should have installed Debian's chromium package")
	}
	t.Skip("no chromium binary on PATH: install Debian's chromium package (apt-get install chromium) to run the browser tests")
	return ""
}

// browser starts a headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// TestBrowser drives the console in a real headless Chromium: deliveries
// appear in the open page without a reload, a forged one as rejected with
// its reason, and Replay on a dead letter runs its handler again. With
// GEMINIHOOKS_SCREENSHOTS=DIR it saves screenshots there (the README's).
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	var failedRuns atomic.Int32
	s := newStack(t, func(l *listener.Listener) {
		l.On(event.TypeBatchFailed, func(context.Context, *event.Event) error {
			if failedRuns.Add(1) == 1 {
				return listener.Permanent(errors.New("results bucket not found"))
			}
			return nil
		})
	}, nil)
	shots := os.Getenv("GEMINIHOOKS_SCREENSHOTS")
	shoot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			if shots == "" {
				return chromedp.Void{}, nil
			}
			png, err := chromedp.FullScreenshot(100)(ctx, t)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(shots, name), png, 0o644)
		}
	}

	// A request without the token is refused: the page says so and shows
	// no deliveries.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.console.URL+"/console/")); err != nil {
		t.Fatal(err)
	}
	refused, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(refused, "token") || strings.Contains(refused, "Stored events") {
		t.Fatalf("without the token the page shows %q", refused)
	}

	// Some history, so the page has something to show when it opens.
	s.deliver("wh_ok_1", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/nightly-1", OutputFileURI: "files/out-1"})
	s.deliver("wh_video_1", &event.Video{ID: "operations/vid-7"})

	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.console.URL+"/console/?token="+s.c.Token()),
		chromedp.WaitVisible(chromedp.CSS(`#live-status`)),
		waitText(`#live-status`, "live"),
	); err != nil {
		t.Fatal(err)
	}

	// A delivery sent now shows up in the open page.
	s.deliver("wh_live_2", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/live-2"})
	if err := chromedp.Do(ctx, waitText(`#live tr[data-n] td.id a`, "wh_live_2")); err != nil {
		t.Fatalf("the live delivery never appeared: %v", err)
	}
	// So does a forged one, as rejected, with the reason.
	s.forge("wh_forged_3", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/evil"})
	if err := chromedp.Do(ctx, waitText(`#live tr.rejected`, "rejected: bad_signature")); err != nil {
		t.Fatalf("the forged delivery never appeared as rejected: %v", err)
	}
	s.stale("wh_stale_4", &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/old"})
	if err := chromedp.Do(ctx, waitText(`#live tr.rejected`, "rejected: stale_timestamp")); err != nil {
		t.Fatalf("the stale delivery never appeared as rejected: %v", err)
	}

	// A dead letter, replayed with one click, runs its handler again.
	s.deliver("wh_dead_5", &event.Batch{Type: event.TypeBatchFailed, ID: "batches/broken-5", ErrorCode: "INTERNAL", ErrorMessage: "shard 3 failed"})
	s.waitState("wh_dead_5", inbox.StateDead)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.console.URL+"/console/"),
		waitText(`#stored`, "wh_dead_5"),
		shoot("console.png"),
		chromedp.Navigate(s.console.URL+"/console/?state=dead"),
		waitText(`#stored`, "wh_dead_5"),
		chromedp.Click(chromedp.CSS(`#stored tr.dead button.replay`)),
		waitText(`.flash`, "Queued again"),
	); err != nil {
		t.Fatalf("replay: %v", err)
	}
	s.waitState("wh_dead_5", inbox.StateDone)
	if n := failedRuns.Load(); n != 2 {
		t.Fatalf("the handler ran %d times; want 2 (once dead-lettered, once replayed)", n)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.console.URL+"/console/delivery?id=wh_dead_5"),
		waitText(`body`, "results bucket not found"),
		shoot("console-delivery.png"),
	); err != nil {
		t.Fatalf("detail page: %v", err)
	}
}

// waitText waits until an element matching sel contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	expr := `(function(){var els=document.querySelectorAll(` + quoteJS(sel) + `);for(var i=0;i<els.length;i++){if(els[i].textContent.indexOf(` + quoteJS(want) + `)>=0){return true}}return false})()`
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			// A poll fails when the page navigates under it (after a form
			// post); poll the new page then.
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline)))(ctx, t)
			if err == nil {
				return chromedp.Void{}, nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return chromedp.Void{}, fmt.Errorf("waiting for %q in %s: %w", want, sel, err)
			}
		}
	}
}
