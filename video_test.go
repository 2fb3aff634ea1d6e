package geminihooks

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
)

func TestVideosGenerateSendsTopLevelCallback(t *testing.T) {
	t.Parallel()
	c, f := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/models/veo-3.0-generate-001:predictLongRunning": reply(200, `{"name":"models/veo-3.0-generate-001/operations/op1"}`),
	})
	src := &genai.GenerateVideosSource{Prompt: "a cat surfing"}
	cfg := &genai.GenerateVideosConfig{NumberOfVideos: 1}
	op, err := c.Videos.Generate(context.Background(), "veo-3.0-generate-001", src, cfg, testCallback)
	if err != nil {
		t.Fatal(err)
	}
	if op.Name != "models/veo-3.0-generate-001/operations/op1" {
		t.Errorf("operation name %q", op.Name)
	}
	body := f.last(t).Body
	v := jsonValue(t, body)
	if d := cmp.Diff(jsonValue(t, []byte(wantWebhookConfig)), at(v, "webhook_config")); d != "" {
		t.Errorf("webhook_config (-want +got):\n%s\nbody %s", d, body)
	}
	if at(v, "instances") == nil {
		t.Errorf("prompt lost: %s", body)
	}
	assertNoCamelCase(t, body)
	if cfg.HTTPOptions != nil || cfg.WebhookConfig != nil {
		t.Error("caller's config modified")
	}
	if _, err := c.Videos.Generate(context.Background(), "veo", nil, nil, nil); err == nil {
		t.Error("nil source accepted")
	}
}

// A request hook set on the genai client itself still runs: genai calls only
// the request's hook when there is one, so ours chains the client's.
func TestCallbackKeepsClientLevelRequestHook(t *testing.T) {
	t.Parallel()
	_, f := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/models/veo:predictLongRunning": reply(200, `{"name":"models/veo/operations/op1"}`),
	})
	gc, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:  testAPIKey,
		Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: f.srv.URL, ExtrasRequestProvider: func(b map[string]any) map[string]any {
			b["client_extra"] = "yes"
			return b
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Videos.Generate(context.Background(), "veo", &genai.GenerateVideosSource{Prompt: "p"}, nil, testCallback); err != nil {
		t.Fatal(err)
	}
	v := jsonValue(t, f.last(t).Body)
	if at(v, "client_extra") != "yes" || at(v, "webhook_config") == nil {
		t.Errorf("body %s lacks the client's field or the callback", f.last(t).Body)
	}
}

// TestVideoRequestBody checks the predictLongRunning body Generate builds,
// and, where the genai in use still builds one for the Gemini API (v1.77),
// that it is the same as genai's.
func TestVideoRequestBody(t *testing.T) {
	t.Parallel()
	five := int32(5)
	img := &genai.Image{ImageBytes: []byte("png bytes"), MIMEType: "image/png"}
	tests := []struct {
		name string
		src  *genai.GenerateVideosSource
		cfg  *genai.GenerateVideosConfig
		want string
	}{
		{"prompt only", &genai.GenerateVideosSource{Prompt: "a cat"}, nil,
			`{"instances":[{"prompt":"a cat"}]}`},
		{"image and parameters", &genai.GenerateVideosSource{Prompt: "a cat", Image: img},
			&genai.GenerateVideosConfig{NumberOfVideos: 2, DurationSeconds: &five, AspectRatio: "16:9", Resolution: "720p",
				PersonGeneration: "allow_adult", NegativePrompt: "dogs", EnhancePrompt: true},
			`{"instances":[{"prompt":"a cat","image":{"bytesBase64Encoded":"cG5nIGJ5dGVz","mimeType":"image/png"}}],
			  "parameters":{"sampleCount":2,"durationSeconds":5,"aspectRatio":"16:9","resolution":"720p",
			  "personGeneration":"allow_adult","negativePrompt":"dogs","enhancePrompt":true}}`},
		{"video by URI drops bytes", &genai.GenerateVideosSource{Video: &genai.Video{URI: "https://x/files/v", VideoBytes: []byte("v"), MIMEType: "video/mp4"}}, nil,
			`{"instances":[{"video":{"uri":"https://x/files/v","encoding":"video/mp4"}}]}`},
		{"last frame and references", &genai.GenerateVideosSource{Prompt: "p"},
			&genai.GenerateVideosConfig{LastFrame: img, ReferenceImages: []*genai.VideoGenerationReferenceImage{{Image: img, ReferenceType: "asset"}}},
			`{"instances":[{"prompt":"p","lastFrame":{"bytesBase64Encoded":"cG5nIGJ5dGVz","mimeType":"image/png"},
			  "referenceImages":[{"image":{"bytesBase64Encoded":"cG5nIGJ5dGVz","mimeType":"image/png"},"referenceType":"asset"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const route = "POST /v1beta/models/veo:predictLongRunning"
			c, f := setup(t, map[string]http.HandlerFunc{route: reply(200, `{"name":"models/veo/operations/op1"}`)})
			if _, err := c.Videos.Generate(t.Context(), "veo", tt.src, tt.cfg, nil); err != nil {
				t.Fatal(err)
			}
			got := jsonValue(t, f.last(t).Body)
			if d := cmp.Diff(jsonValue(t, []byte(tt.want)), got); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}

			// genai's own request, where it still makes one.
			_, gf := setup(t, map[string]http.HandlerFunc{route: reply(200, `{"name":"models/veo/operations/op1"}`)})
			gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
				APIKey: testAPIKey, Backend: genai.BackendGeminiAPI,
				HTTPOptions: genai.HTTPOptions{BaseURL: gf.srv.URL, APIVersion: "v1beta"},
			})
			if err != nil {
				t.Fatal(err)
			}
			src := *tt.src
			if _, err := gc.Models.GenerateVideosFromSource(t.Context(), "veo", &src, tt.cfg); err != nil {
				if strings.Contains(err.Error(), "only supported in") {
					t.Logf("this genai does not generate videos on the Gemini API: %v", err)
					return
				}
				t.Fatal(err)
			}
			if d := cmp.Diff(jsonValue(t, gf.last(t).Body), got); d != "" {
				t.Errorf("body differs from genai's (-genai +ours):\n%s", d)
			}
		})
	}
}

func TestVideosGenerateRefusesVertexOnlyFields(t *testing.T) {
	t.Parallel()
	c, f := setup(t, nil)
	seed := int32(1)
	for name, cfg := range map[string]*genai.GenerateVideosConfig{
		"Seed":         {Seed: &seed},
		"OutputGCSURI": {OutputGCSURI: "gs://b/o"},
		"Labels":       {Labels: map[string]string{"a": "b"}},
		"BaseURL":      {HTTPOptions: &genai.HTTPOptions{BaseURL: "https://elsewhere.example"}},
		"APIVersion":   {HTTPOptions: &genai.HTTPOptions{APIVersion: "v1beta/../../webhooks"}},
	} {
		_, err := c.Videos.Generate(t.Context(), "veo", &genai.GenerateVideosSource{Prompt: "p"}, cfg, nil)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v; want it named", name, err)
		}
	}
	for _, model := range []string{"", "../webhooks", "veo?x=1", "models/a/../../b"} {
		if _, err := c.Videos.Generate(t.Context(), model, &genai.GenerateVideosSource{Prompt: "p"}, nil, nil); err == nil {
			t.Errorf("model %q accepted", model)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestVideosGenerateDoneAtOnce checks that an operation finished when it is
// created comes back in genai's form, with its video.
func TestVideosGenerateDoneAtOnce(t *testing.T) {
	t.Parallel()
	const done = `{"name":"models/veo/operations/op1","done":true,"response":{"generateVideoResponse":{"generatedSamples":[{"video":{"uri":"https://x/files/v1:download?alt=media"}}]}}}`
	c, _ := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/models/veo:predictLongRunning": reply(200, done),
		"GET /v1beta/models/veo/operations/op1":      reply(200, done),
	})
	op, err := c.Videos.Generate(t.Context(), "veo", &genai.GenerateVideosSource{Prompt: "p"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !op.Done || op.Response == nil || len(op.Response.GeneratedVideos) != 1 || op.Response.GeneratedVideos[0].Video.URI != "https://x/files/v1:download?alt=media" {
		t.Errorf("operation %+v; want done with its video", op)
	}
}

// TestNothingPrintedToTheGlobalLog checks that no call makes genai write
// to the standard logger, which prints to a user's stderr: genai v1.77's
// GenerateVideosFromSource logged a deprecation warning on every process's
// first video.
func TestNothingPrintedToTheGlobalLog(t *testing.T) {
	var buf bytes.Buffer
	log.SetOutput(&buf)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	c, _ := setup(t, map[string]http.HandlerFunc{
		"POST /v1beta/models/veo:predictLongRunning":                reply(200, `{"name":"models/veo/operations/op1"}`),
		"GET /v1beta/models/veo/operations/op1":                     reply(200, `{"name":"models/veo/operations/op1"}`),
		"POST /v1beta/models/gemini-2.5-flash:batchGenerateContent": reply(200, `{"name":"batches/b1","metadata":{"state":"BATCH_STATE_PENDING"}}`),
		"GET /v1beta/batches/b1":                                    reply(200, `{"name":"batches/b1","metadata":{"state":"BATCH_STATE_PENDING"}}`),
		"POST /v1beta/interactions":                                 reply(200, `{"id":"int_1","status":"in_progress"}`),
	})
	ctx := t.Context()
	if _, err := c.Videos.Generate(ctx, "veo", &genai.GenerateVideosSource{Prompt: "p"}, nil, testCallback); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Videos.Get(ctx, "models/veo/operations/op1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{FileName: "files/in"}, nil, testCallback); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batches.Get(ctx, "batches/b1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Interactions.Create(ctx, InteractionRequest{Model: "gemini-2.5-flash", Input: "hi"}, testCallback); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("printed to the standard logger:\n%s", &buf)
	}
}
