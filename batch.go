package geminihooks

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/ledger"
)

// BatchesService launches batch jobs whose completion is pushed to a
// callback.
type BatchesService service

// Create starts a batch job, like genai's Batches.Create, with its events
// (batch.succeeded, batch.failed, ...) sent to cb. cb may be nil to use the
// registered webhooks.
//
// The request goes to the client's API version (v1beta unless
// WithAPIVersion), not genai's, unless cfg.HTTPOptions names one. The
// callback goes in the request body as batch.webhook_config with snake_case
// fields; genai's own WebhookConfig sends "userMetadata", which the batch
// endpoint rejects. A WebhookConfig already in cfg is moved there the same
// way. cfg is never modified.
func (s *BatchesService) Create(ctx context.Context, model string, src *genai.BatchJobSource, cfg *genai.CreateBatchJobConfig, cb *Callback) (*genai.BatchJob, error) {
	if src == nil {
		return nil, errNilSource
	}
	var c genai.CreateBatchJobConfig
	if cfg != nil {
		c = *cfg
	}
	cb, err := takeCallback(&c.WebhookConfig, cb)
	if err != nil {
		return nil, err
	}
	c.HTTPOptions = s.client.requestOptions(c.HTTPOptions)
	var meta map[string]any
	if cb != nil {
		wc, err := s.client.prepare(cb)
		if err != nil {
			return nil, err
		}
		meta = wc.UserMetadata
		s.client.setWebhookConfig(c.HTTPOptions, wc, "batch")
	}
	job, err := s.client.gc.Batches.Create(ctx, model, src, &c)
	if err != nil {
		return nil, s.client.convertError("create batch", err)
	}
	s.client.track(ctx, ledger.KindBatch, job.Name, cb != nil, meta)
	s.client.logger.DebugContext(ctx, "geminihooks: batch created", "name", job.Name, "callback", cb != nil)
	return job, nil
}

// Get returns the batch job called name ("batches/ID"), with its Error
// filled in when it failed.
func (s *BatchesService) Get(ctx context.Context, name string) (*genai.BatchJob, error) {
	if name == "" {
		return nil, errors.New("geminihooks: get batch: empty name")
	}
	job, err := s.client.gc.Batches.Get(ctx, name, &genai.GetBatchJobConfig{HTTPOptions: s.client.requestOptions(nil)})
	if err != nil {
		return nil, s.client.convertError("get batch", err)
	}
	if job.State == genai.JobStateFailed && job.Error == nil {
		// genai reads a batch's error only on Vertex AI; the Gemini API
		// puts it on the operation, so read it from there.
		var op struct {
			Error *struct {
				Code    *int32 `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		path, err := batchPath(name)
		if err != nil {
			return nil, err
		}
		if err := s.client.do(ctx, http.MethodGet, path, nil, nil, &op); err != nil {
			return nil, s.client.convertError("get batch", err)
		}
		if op.Error != nil {
			job.Error = &genai.JobError{Code: op.Error.Code, Message: op.Error.Message}
		}
	}
	return job, nil
}
