package geminihooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/genai"
)

// BatchesService launches batch jobs whose completion is pushed to a
// callback.
type BatchesService service

// Create starts a batch job, like genai's Batches.Create, with its events
// (batch.succeeded, batch.failed, ...) sent to cb. cb may be nil to use the
// registered webhooks.
//
// The request goes to the client's API version (Config.APIVersion), not
// genai's, unless cfg.HTTPOptions names one. The
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
	own := moveCallback(&c.WebhookConfig)
	c.HTTPOptions = s.client.requestOptions(c.HTTPOptions)
	var job *genai.BatchJob
	err := s.client.launch(ctx, batchJob, own, cb, func(wc *wireWebhookConfig) (string, error) {
		if wc != nil {
			s.client.setWebhookConfig(c.HTTPOptions, wc, "batch")
		}
		var err error
		if job, err = s.client.gc.Batches.Create(ctx, model, src, &c); err != nil {
			return "", s.client.convertError("create batch", err)
		}
		s.client.logger.DebugContext(ctx, "geminihooks: batch created", "name", job.Name, "callback", wc != nil)
		return job.Name, nil
	})
	if err != nil {
		return nil, err
	}
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

// batchPath checks a batch name before it goes into a raw request path,
// which genai's own calls would have escaped: "batches/x/../../webhooks"
// must not reach another endpoint with the API key.
func batchPath(name string) (string, error) {
	id := strings.TrimPrefix(name, "batches/")
	if !validID(id) {
		return "", fmt.Errorf("geminihooks: invalid batch name %q", name)
	}
	return "batches/" + id, nil
}
