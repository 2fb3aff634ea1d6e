package geminihooks

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/ledger"
)

// VideosService launches video generation whose completion is pushed to a
// callback.
type VideosService service

// Generate starts a video generation operation, as genai's
// Models.GenerateVideosFromSource did for the Gemini Developer API, with its
// video.generated event sent to cb. cb may be nil to use the registered
// webhooks.
//
// Since v1.78 genai refuses GenerateVideos on the Gemini Developer API, while
// the API still serves POST /v1beta/models/{model}:predictLongRunning, so
// Generate builds that request itself, field for field as genai v1.77 did,
// and fails on the fields the Gemini API does not take (OutputGCSURI, FPS,
// Seed, PubsubTopic, GenerateAudio, Mask, CompressionQuality, Labels,
// ResizeMode, an Image's GCSURI). The callback goes at the top level of the
// body as webhook_config with snake_case fields; a WebhookConfig already in
// cfg is moved there the same way. From cfg.HTTPOptions, APIVersion,
// Headers, ExtraBody and ExtrasRequestProvider apply; a BaseURL there is
// refused. Neither source nor cfg is modified.
//
// The returned operation is usually not yet Done; Get reads it later.
//
// The API documentation now makes an Interactions model the default for
// video: Interactions.Create with a video response format launches one,
// with the same callback.
func (s *VideosService) Generate(ctx context.Context, model string, source *genai.GenerateVideosSource, cfg *genai.GenerateVideosConfig, cb *Callback) (*genai.GenerateVideosOperation, error) {
	if source == nil {
		return nil, errNilSource
	}
	var c genai.GenerateVideosConfig
	if cfg != nil {
		c = *cfg
	}
	cb, err := takeCallback(&c.WebhookConfig, cb)
	if err != nil {
		return nil, err
	}
	path, err := modelPath(model)
	if err != nil {
		return nil, err
	}
	body, err := videoRequest(source, &c)
	if err != nil {
		return nil, fmt.Errorf("geminihooks: generate videos: %w", err)
	}
	body = s.client.requestExtras(c.HTTPOptions, body)
	var meta map[string]any
	if cb != nil {
		wc, err := s.client.prepare(cb)
		if err != nil {
			return nil, err
		}
		meta = wc.UserMetadata
		delete(body, "webhookConfig")
		body["webhook_config"] = wc
	}
	var op struct {
		Name     string         `json:"name"`
		Done     bool           `json:"done"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := s.client.doWith(ctx, c.HTTPOptions, http.MethodPost, path+":predictLongRunning", nil, body, &op); err != nil {
		return nil, s.client.convertError("generate videos", err)
	}
	if op.Name == "" {
		return nil, errors.New("geminihooks: generate videos: the answer named no operation")
	}
	s.client.track(ctx, ledger.KindVideo, op.Name, cb != nil, meta)
	s.client.logger.DebugContext(ctx, "geminihooks: video generation started", "name", op.Name, "callback", cb != nil)
	if op.Done {
		// Read the finished operation in genai's own form, response and
		// error included.
		return s.Get(ctx, op.Name)
	}
	return &genai.GenerateVideosOperation{Name: op.Name, Metadata: op.Metadata}, nil
}

// Get returns the video generation operation called name
// ("models/M/operations/ID"); it is Done once the video is ready or failed.
func (s *VideosService) Get(ctx context.Context, name string) (*genai.GenerateVideosOperation, error) {
	if name == "" {
		return nil, errors.New("geminihooks: get video operation: empty name")
	}
	op, err := s.client.gc.Operations.GetVideosOperation(ctx, &genai.GenerateVideosOperation{Name: name},
		&genai.GetOperationConfig{HTTPOptions: s.client.requestOptions(nil)})
	if err != nil {
		return nil, s.client.convertError("get video operation", err)
	}
	return op, nil
}

// modelPath is genai's model name rule for the Gemini API ("veo-3" becomes
// "models/veo-3"), checked before it goes into a raw request path.
func modelPath(model string) (string, error) {
	if !strings.HasPrefix(model, "models/") && !strings.HasPrefix(model, "tunedModels/") {
		model = "models/" + model
	}
	prefix, id, _ := strings.Cut(model, "/")
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return "", fmt.Errorf("geminihooks: invalid model name %q", model)
		}
	}
	if id == "" || strings.Contains(id, "..") {
		return "", fmt.Errorf("geminihooks: invalid model name %q", model)
	}
	return prefix + "/" + id, nil
}

// videoRequest is the predictLongRunning body for source and cfg: genai
// v1.77's Gemini API converter (generateVideosParametersToMldev), written
// out, since later genai versions removed it.
func videoRequest(source *genai.GenerateVideosSource, cfg *genai.GenerateVideosConfig) (map[string]any, error) {
	unsupported := []struct {
		name string
		set  bool
	}{
		{"OutputGCSURI", cfg.OutputGCSURI != ""},
		{"FPS", cfg.FPS != nil},
		{"Seed", cfg.Seed != nil},
		{"PubsubTopic", cfg.PubsubTopic != ""},
		{"GenerateAudio", cfg.GenerateAudio != nil},
		{"Mask", cfg.Mask != nil},
		{"CompressionQuality", cfg.CompressionQuality != ""},
		{"Labels", cfg.Labels != nil},
		{"ResizeMode", cfg.ResizeMode != ""},
	}
	for _, u := range unsupported {
		if u.set {
			return nil, fmt.Errorf("%s is only supported on Vertex AI, not on the Gemini Developer API", u.name)
		}
	}
	if o := cfg.HTTPOptions; o != nil {
		if o.BaseURL != "" {
			return nil, errors.New("a per-request HTTPOptions.BaseURL is not supported; set it on the genai client")
		}
		if o.APIVersion != "" && !apiVersionPattern.MatchString(o.APIVersion) {
			return nil, fmt.Errorf("HTTPOptions.APIVersion %q is not an API version such as v1beta", o.APIVersion)
		}
	}
	instance := map[string]any{}
	if source.Prompt != "" {
		instance["prompt"] = source.Prompt
	}
	if source.Image != nil {
		img, err := videoImage(source.Image)
		if err != nil {
			return nil, err
		}
		instance["image"] = img
	}
	if v := source.Video; v != nil {
		video := map[string]any{}
		if v.URI != "" {
			video["uri"] = v.URI
		}
		// As genai: the Gemini API takes a video by URI, so bytes sent
		// beside a URI are dropped.
		if v.VideoBytes != nil && v.URI == "" {
			video["encodedVideo"] = base64.StdEncoding.EncodeToString(v.VideoBytes)
		}
		if v.MIMEType != "" {
			video["encoding"] = v.MIMEType
		}
		instance["video"] = video
	}
	if cfg.LastFrame != nil {
		img, err := videoImage(cfg.LastFrame)
		if err != nil {
			return nil, err
		}
		instance["lastFrame"] = img
	}
	if cfg.ReferenceImages != nil {
		refs := make([]any, 0, len(cfg.ReferenceImages))
		for _, r := range cfg.ReferenceImages {
			ref := map[string]any{}
			if r != nil && r.Image != nil {
				img, err := videoImage(r.Image)
				if err != nil {
					return nil, err
				}
				ref["image"] = img
			}
			if r != nil && r.ReferenceType != "" {
				ref["referenceType"] = string(r.ReferenceType)
			}
			refs = append(refs, ref)
		}
		instance["referenceImages"] = refs
	}
	params := map[string]any{}
	if cfg.NumberOfVideos != 0 {
		params["sampleCount"] = cfg.NumberOfVideos
	}
	if cfg.DurationSeconds != nil {
		params["durationSeconds"] = *cfg.DurationSeconds
	}
	for k, v := range map[string]string{
		"aspectRatio":      cfg.AspectRatio,
		"resolution":       cfg.Resolution,
		"personGeneration": cfg.PersonGeneration,
		"negativePrompt":   cfg.NegativePrompt,
	} {
		if v != "" {
			params[k] = v
		}
	}
	if cfg.EnhancePrompt {
		params["enhancePrompt"] = true
	}
	body := map[string]any{"instances": []any{instance}}
	if len(params) > 0 {
		body["parameters"] = params
	}
	return body, nil
}

func videoImage(img *genai.Image) (map[string]any, error) {
	if img.GCSURI != "" {
		return nil, errors.New("an Image's GCSURI is only supported on Vertex AI, not on the Gemini Developer API")
	}
	out := map[string]any{}
	if img.ImageBytes != nil {
		out["bytesBase64Encoded"] = base64.StdEncoding.EncodeToString(img.ImageBytes)
	}
	if img.MIMEType != "" {
		out["mimeType"] = img.MIMEType
	}
	return out, nil
}

// requestExtras applies a call's ExtraBody and its (or else the genai
// client's) ExtrasRequestProvider to body, in genai's order.
func (c *Client) requestExtras(opts *genai.HTTPOptions, body map[string]any) map[string]any {
	provider := c.gc.ClientConfig().HTTPOptions.ExtrasRequestProvider
	if opts != nil {
		if opts.ExtraBody != nil {
			mergeBody(body, opts.ExtraBody)
		}
		if opts.ExtrasRequestProvider != nil {
			provider = opts.ExtrasRequestProvider
		}
	}
	if provider != nil {
		if b := provider(body); b != nil {
			body = b
		}
	}
	return body
}

// mergeBody merges extra into body, nested objects key by key, as genai's
// ExtraBody does; extra is not shared with body afterwards.
func mergeBody(body, extra map[string]any) {
	for k, v := range extra {
		sub, isMap := v.(map[string]any)
		if dst, ok := body[k].(map[string]any); ok && isMap {
			mergeBody(dst, sub)
			continue
		}
		if isMap {
			v = cloneMap(sub)
		}
		body[k] = v
	}
}
