package geminihooks

import (
	"context"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/inbox"
)

// BatchesService launches batch jobs whose completion is pushed to a
// callback.
type BatchesService service

// Create starts a batch job, like genai's Batches.Create, with its events
// (batch.succeeded, batch.failed, ...) sent to cb. cb may be nil to use the
// registered webhooks.
//
// The callback goes in the request body as batch.webhook_config with
// snake_case fields; genai's own WebhookConfig sends "userMetadata", which the
// batch endpoint rejects. A WebhookConfig already in cfg is moved there the
// same way. cfg is never modified.
func (s *BatchesService) Create(ctx context.Context, model string, src *genai.BatchJobSource, cfg *genai.CreateBatchJobConfig, cb *Callback) (*genai.BatchJob, error) {
	if src == nil {
		return nil, errNilSource
	}
	var c genai.CreateBatchJobConfig
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
		c.HTTPOptions = s.client.withWebhookConfig(c.HTTPOptions, wc, "batch")
	}
	job, err := s.client.gc.Batches.Create(ctx, model, src, &c)
	if err != nil {
		return nil, s.client.convertError("create batch", err)
	}
	s.client.track(ctx, inbox.KindBatch, job.Name, cb != nil, meta)
	s.client.logger.DebugContext(ctx, "geminihooks: batch created", "name", job.Name, "callback", cb != nil)
	return job, nil
}
