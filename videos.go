package geminihooks

import (
	"context"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/inbox"
)

// VideosService launches video generation whose completion is pushed to a
// callback.
type VideosService service

// Generate starts a video generation operation, like genai's
// Models.GenerateVideosFromSource, with its video.generated event sent to cb.
// cb may be nil to use the registered webhooks.
//
// The callback goes at the top level of the request body as webhook_config
// with snake_case fields; a WebhookConfig already in cfg is moved there the
// same way. Neither source nor cfg is modified.
func (s *VideosService) Generate(ctx context.Context, model string, source *genai.GenerateVideosSource, cfg *genai.GenerateVideosConfig, cb *Callback) (*genai.GenerateVideosOperation, error) {
	if source == nil {
		return nil, errNilSource
	}
	// genai rewrites source.Video in place; give it a copy.
	src := *source
	var c genai.GenerateVideosConfig
	if cfg != nil {
		c = *cfg
	}
	if c.WebhookConfig != nil {
		if cb != nil {
			return nil, errTwoCallbacks
		}
		cb = callbackFromGenAI(c.WebhookConfig)
		c.WebhookConfig = nil
	}
	var meta map[string]any
	if cb != nil {
		wc, err := s.client.prepare(cb)
		if err != nil {
			return nil, err
		}
		meta = wc.UserMetadata
		c.HTTPOptions = s.client.withWebhookConfig(c.HTTPOptions, wc)
	}
	op, err := s.client.gc.Models.GenerateVideosFromSource(ctx, model, &src, &c)
	if err != nil {
		return nil, s.client.convertError("generate videos", err)
	}
	s.client.track(ctx, inbox.KindVideo, op.Name, cb != nil, meta)
	s.client.logger.DebugContext(ctx, "geminihooks: video generation started", "name", op.Name, "callback", cb != nil)
	return op, nil
}
