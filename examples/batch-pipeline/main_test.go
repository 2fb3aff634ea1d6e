package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/examples/internal/backend"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
)

func newEmulator(t *testing.T, outcome emulator.Outcome) *emulator.Server {
	t.Helper()
	emu, err := emulator.NewServer(&emulator.Config{
		InsecureAllowHTTPLoopback: true,
		Running:                   10 * time.Millisecond,
		Outcome:                   func(emulator.Job) emulator.Outcome { return outcome },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	return emu
}

func TestRun(t *testing.T) {
	t.Parallel()
	emu := newEmulator(t, "succeeded")
	path := filepath.Join(t.TempDir(), "summary.json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	res, err := run(ctx, config{backend: backend.Config{Emulator: emu}, model: "gemini-2.5-flash", out: path}, &out)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, &out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var written summary
	if err := json.Unmarshal(b, &written); err != nil {
		t.Fatalf("summary file: %v", err)
	}
	if diff := cmp.Diff(res.Summary, written); diff != "" {
		t.Errorf("file differs from the summary run returned (-run +file):\n%s", diff)
	}

	// Work out the summary from the emulator's JSONL on our own.
	want := summary{Batch: res.Batch, OutputFileURI: written.OutputFileURI, Answers: map[string]string{}}
	if !strings.HasPrefix(want.OutputFileURI, emu.URL+"/") {
		t.Fatalf("output_file_uri %q is not served by the emulator", want.OutputFileURI)
	}
	req, err := http.NewRequest(http.MethodGet, want.OutputFileURI, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", emu.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Key      string
			Response struct {
				Candidates []struct {
					Content struct{ Parts []struct{ Text string } }
				}
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		text := ""
		for _, p := range line.Response.Candidates[0].Content.Parts {
			text += p.Text
		}
		want.Lines++
		want.Succeeded++
		want.Characters += len([]rune(text))
		want.Answers[line.Key] = text
	}
	if diff := cmp.Diff(want, written); diff != "" {
		t.Errorf("summary (-from the JSONL +written):\n%s", diff)
	}
	if written.Lines != len(questions) {
		t.Errorf("summary counts %d results, want one per question (%d)", written.Lines, len(questions))
	}
	for _, q := range questions {
		if _, ok := written.Answers[q.key]; !ok {
			t.Errorf("no answer for request %q", q.key)
		}
	}
	if st := res.Stats; st.Stored != 1 || st.Processed != 1 {
		t.Errorf("stats = %+v, want one event stored and processed", st)
	}
}

func TestRunBatchFails(t *testing.T) {
	t.Parallel()
	for _, o := range []emulator.Outcome{"failed", "expired", "cancelled"} {
		t.Run(string(o), func(t *testing.T) {
			t.Parallel()
			emu := newEmulator(t, o)
			path := filepath.Join(t.TempDir(), "summary.json")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			_, err := run(ctx, config{backend: backend.Config{Emulator: emu}, model: "gemini-2.5-flash", out: path}, &out)
			if !errors.Is(err, errBatchEnded) {
				t.Fatalf("run = %v, want errBatchEnded\nlog:\n%s", err, &out)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("summary written for a batch that %s: %v", o, err)
			}
		})
	}
}

func TestParseResults(t *testing.T) {
	t.Parallel()
	ok := func(key, text string) string {
		return `{"key":"` + key + `","response":{"candidates":[{"content":{"role":"model","parts":[{"text":` + text + `}]}}]}}`
	}
	for _, tc := range []struct {
		name          string
		in            string
		want          summary
		wantPermanent bool
	}{{
		name: "mixed",
		in:   ok("a", `"Paris.\nIt is."`) + "\n\n" + `{"key":"b","error":{"code":3,"message":"bad request"}}` + "\n" + ok("", `"x"`),
		want: summary{Lines: 3, Succeeded: 2, Failed: 1, Characters: 14,
			Answers: map[string]string{"a": "Paris.", "line-4": "x"}, Errors: map[string]string{"b": "3 bad request"}},
	}, {
		name: "empty",
		in:   "",
		want: summary{Answers: map[string]string{}},
	}, {
		name:          "not json",
		in:            ok("a", `"x"`) + "\n{not json",
		wantPermanent: true,
	}, {
		name:          "neither response nor error",
		in:            `{"key":"a"}`,
		wantPermanent: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseResults(strings.NewReader(tc.in))
			if tc.wantPermanent {
				if !listener.IsPermanent(err) {
					t.Fatalf("parseResults = %v, want a permanent error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseResults(f *testing.F) {
	f.Add(`{"key":"a","response":{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}}` + "\n")
	f.Add(`{"key":"b","error":{"code":13,"message":"x"}}`)
	f.Add("\n\n{}\n")
	f.Add(`{"response":null,"error":null}`)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := parseResults(strings.NewReader(in))
		if err != nil {
			return
		}
		if s.Lines != s.Succeeded+s.Failed || len(s.Answers)+len(s.Errors) > s.Lines {
			t.Errorf("inconsistent summary %+v", s)
		}
	})
}

func TestOutputRequest(t *testing.T) {
	t.Parallel()
	const base, key = "https://generativelanguage.googleapis.com", "k"
	for _, tc := range []struct {
		uri     string
		wantURL string
		wantKey bool
	}{
		{uri: base + "/download/v1beta/files/abc:download?alt=media", wantURL: base + "/download/v1beta/files/abc:download?alt=media", wantKey: true},
		{uri: "files/abc", wantURL: base + "/download/v1beta/files/abc:download?alt=media", wantKey: true},
		// Another host gets the request but never the key.
		{uri: "https://storage.example.com/out.jsonl?sig=1", wantURL: "https://storage.example.com/out.jsonl?sig=1"},
		{uri: "https://generativelanguage.googleapis.com.evil.example/x", wantURL: "https://generativelanguage.googleapis.com.evil.example/x"},
		{uri: "gs://bucket/results.jsonl"},
		{uri: "http://storage.example.com/out.jsonl"},
		{uri: ""},
	} {
		req, err := outputRequest(context.Background(), base, key, tc.uri)
		if tc.wantURL == "" {
			if !errors.Is(err, errUnsupported) {
				t.Errorf("outputRequest(%q) = %v, want errUnsupported", tc.uri, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("outputRequest(%q): %v", tc.uri, err)
			continue
		}
		if req.URL.String() != tc.wantURL || (req.Header.Get("x-goog-api-key") == key) != tc.wantKey {
			t.Errorf("outputRequest(%q) = %s with key %v, want %s with key %v",
				tc.uri, req.URL, req.Header.Get("x-goog-api-key") != "", tc.wantURL, tc.wantKey)
		}
	}
}

// TestRunPostgres runs the -postgres mode: the event waits in a pginbox and
// the summary commits with its ack.
func TestRunPostgres(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("GEMINIHOOKS_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("GEMINIHOOKS_TEST_POSTGRES is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A schema of the test's own, on the search path, holds both tables.
	schema := fmt.Sprintf("bp_test_%d", time.Now().UnixNano())
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	emu := newEmulator(t, "succeeded")
	var out bytes.Buffer
	res, err := run(ctx, config{
		backend: backend.Config{Emulator: emu}, model: "gemini-2.5-flash",
		postgres: u.String(), inboxTable: schema + ".inbox",
	}, &out)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, &out)
	}
	if res.Summary.Lines != len(questions) || res.Summary.Succeeded != len(questions) {
		t.Errorf("summary %+v, want %d succeeded results", res.Summary, len(questions))
	}

	var b []byte
	if err := admin.QueryRow(ctx, "SELECT summary FROM "+schema+".batch_summaries WHERE batch = $1", res.Batch).Scan(&b); err != nil {
		t.Fatalf("summary row: %v", err)
	}
	var stored summary
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res.Summary, stored); diff != "" {
		t.Errorf("stored summary (-run +row):\n%s", diff)
	}
	// The event was acked in that transaction: nothing is left to claim.
	ib, err := pginbox.New(admin, &pginbox.Config{Table: schema + ".inbox"})
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	if n, err := ib.Depth(ctx); err != nil || n != 0 {
		t.Errorf("inbox depth = %d, %v; want 0", n, err)
	}
	if n, err := ib.Count(ctx); err != nil || n.Dead != 0 {
		t.Errorf("dead letters = %d, %v; want none", n.Dead, err)
	}
	if st := res.Stats; st.Stored != 1 || st.Processed != 1 {
		t.Errorf("stats = %+v, want one event stored and processed", st)
	}
}
