package emulator

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// The kinds of job the emulator runs, as Job.Kind spells them: the
// TypeInfo.Job of their events.
const (
	kindBatch       = "batch"       // {model}:batchGenerateContent
	kindVideo       = "video"       // {model}:predictLongRunning
	kindInteraction = "interaction" // POST /v1beta/interactions with background: true
)

// Outcome is how a job ends: "succeeded", "failed", "expired",
// "cancelled", "requires_action", "incomplete", "budget_exceeded" or
// "requires_continuation". Batches take succeeded, failed, expired and
// cancelled; videos succeeded and failed; interactions succeeded (status
// completed), failed, cancelled, requires_action (a pending function call,
// continued by a follow-up interaction that carries the function result),
// incomplete and budget_exceeded, and, for a foreground interaction only,
// requires_continuation (continued by a follow-up that sends its
// continuation_token; the server continues background interactions itself).
type Outcome string

const (
	outcomeSucceeded            Outcome = "succeeded"
	outcomeFailed               Outcome = "failed"
	outcomeExpired              Outcome = "expired"
	outcomeCancelled            Outcome = "cancelled"
	outcomeRequiresAction       Outcome = "requires_action"
	outcomeIncomplete           Outcome = "incomplete"
	outcomeBudgetExceeded       Outcome = "budget_exceeded"
	outcomeRequiresContinuation Outcome = "requires_continuation"
)

// OutcomeHeader, on a create request, chooses that job's outcome, for
// clients that cannot reach the emulator's Go API (the CLI demo, curl).
const OutcomeHeader = "x-emulator-outcome"

// SigningHeader, on a create request that carries a webhook_config, chooses
// how that job's deliveries are signed: "v1a" (Ed25519) or "jwt" (RS256),
// overriding Config.DynamicSigning for that job only. A job without a
// webhook_config goes to registered webhooks, which always sign v1, so the
// header is an error there.
const SigningHeader = "x-emulator-signing"

// The phases a job goes through before its outcome (Job.Phase).
const (
	phasePending = "pending"
	phaseRunning = "running"
)

func (o Outcome) validFor(k string) bool {
	switch k {
	case kindBatch:
		return o == outcomeSucceeded || o == outcomeFailed || o == outcomeExpired || o == outcomeCancelled
	case kindVideo:
		return o == outcomeSucceeded || o == outcomeFailed
	case kindInteraction:
		switch o {
		case outcomeSucceeded, outcomeFailed, outcomeCancelled, outcomeRequiresAction,
			outcomeIncomplete, outcomeBudgetExceeded, outcomeRequiresContinuation:
			return true
		}
	}
	return false
}

// Job is a snapshot of a job.
type Job struct {
	Name         string         // "batches/ID", "models/M/operations/ID", or an interaction id
	Kind         string         // "batch", "video" or "interaction"
	Model        string         // "models/M" (or the agent, for an agent interaction)
	DisplayName  string         // a batch's display name
	Phase        string         // "pending", "running", or the Outcome once reached
	Outcome      Outcome        // the planned outcome, then the reached one
	WebhookURIs  []string       // webhook_config.uris; empty means registered webhooks
	UserMetadata map[string]any // webhook_config.user_metadata
	CreateTime   time.Time
	EndTime      time.Time // zero until the outcome is reached
}

// Done reports whether the job has reached its outcome.
func (j Job) Done() bool { return j.Phase != phasePending && j.Phase != phaseRunning }

type job struct {
	Job
	seq     int // creation order
	updated time.Time
	timer   *time.Timer
	done    chan struct{} // closed when the outcome is reached
	hook    *webhookConfig

	// batch
	requests []batchRequest
	inlined  bool
	// video and batch output
	fileID string
	// interaction
	interaction *interaction
}

func (j *job) snapshot() Job {
	out := j.Job
	out.WebhookURIs = slices.Clone(j.WebhookURIs)
	out.UserMetadata = maps.Clone(j.UserMetadata)
	return out
}

// chooseOutcome applies the OutcomeHeader, then Config.Outcome, then the
// default.
func (s *Server) chooseOutcome(r *http.Request, j Job) (Outcome, *apiError) {
	if h := r.Header.Get(OutcomeHeader); h != "" {
		o := Outcome(h)
		if !o.validFor(j.Kind) {
			return "", errInvalid(fmt.Sprintf("%s: %q is not an outcome for a %s job.", OutcomeHeader, h, j.Kind))
		}
		return o, nil
	}
	if s.cfg.Outcome != nil {
		if o := s.cfg.Outcome(j); o != "" {
			if o.validFor(j.Kind) {
				return o, nil
			}
			s.cfg.Logger.Warn("emulator: Config.Outcome chose an outcome the job cannot have; using succeeded",
				"job", j.Name, "outcome", string(o))
		}
	}
	return outcomeSucceeded, nil
}

// chooseSigning applies the SigningHeader to a job being created, once its
// webhook_config (if any) is parsed.
func (s *Server) chooseSigning(r *http.Request, j *job) *apiError {
	h := r.Header.Get(SigningHeader)
	if h == "" {
		return nil
	}
	if j.hook == nil || len(j.hook.URIs) == 0 {
		return errInvalid(fmt.Sprintf("%s applies to jobs with webhook_config uris; registered webhooks always sign v1.", SigningHeader))
	}
	sc := signing.Scheme(h)
	if sc != signing.SchemeEd25519 && sc != signing.SchemeJWT {
		return errInvalid(fmt.Sprintf("%s: %q is not a dynamic signing scheme; use v1a or jwt.", SigningHeader, h))
	}
	j.hook.scheme = sc
	return nil
}

// addJob registers a new job and, unless jobs are manual, schedules it. The
// caller fills in j; addJob sets the phase.
func (s *Server) addJob(j *job) {
	j.done = make(chan struct{})
	j.updated = j.CreateTime
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobSeq++
	j.seq = s.jobSeq
	s.jobs[j.Name] = j
	if j.Kind == kindBatch {
		s.batchList = append(s.batchList, j.Name)
	}
	if s.cfg.ManualJobs {
		j.Phase = phaseRunning
		return
	}
	j.Phase = phasePending
	s.scheduleLocked(j, s.cfg.Pending)
}

// scheduleLocked arms j's next step. s.mu is held.
func (s *Server) scheduleLocked(j *job, d time.Duration) {
	if s.active == 0 {
		s.idle = make(chan struct{})
	}
	s.active++
	j.timer = time.AfterFunc(time.Duration(float64(d)/s.cfg.TimeScale), func() { s.step(j) })
}

// stepDoneLocked accounts for a scheduled step that ran or was stopped.
// s.mu is held.
func (s *Server) stepDoneLocked() {
	s.active--
	if s.active == 0 {
		close(s.idle)
	}
}

// step moves j from pending to running, or from running to its outcome.
func (s *Server) step(j *job) {
	s.mu.Lock()
	select {
	case <-s.done:
		s.stepDoneLocked()
		s.mu.Unlock()
		return
	default:
	}
	if s.jobs[j.Name] != j || j.Done() { // deleted, or finished early
		s.stepDoneLocked()
		s.mu.Unlock()
		return
	}
	var publish func()
	switch j.Phase {
	case phasePending:
		j.Phase = phaseRunning
		j.updated = s.now()
		s.scheduleLocked(j, s.cfg.Running)
	case phaseRunning:
		j.timer = nil
		publish = s.finishLocked(j, j.Outcome)
	}
	s.mu.Unlock()
	// Publish before the step counts as done, so Idle sees the deliveries.
	if publish != nil {
		publish()
	}
	s.mu.Lock()
	s.stepDoneLocked()
	s.mu.Unlock()
}

// stopLocked cancels j's scheduled step, if any. s.mu is held.
func (s *Server) stopLocked(j *job) {
	if j.timer != nil && j.timer.Stop() {
		s.stepDoneLocked()
	}
	j.timer = nil
}

// finishLocked gives j its outcome and returns the function that publishes
// the event, to be called without s.mu. s.mu is held.
func (s *Server) finishLocked(j *job, o Outcome) (publish func()) {
	now := s.now()
	j.Phase, j.Outcome, j.EndTime, j.updated = string(o), o, now, now
	var d event.Data
	switch j.Kind {
	case kindBatch:
		d = s.finishBatchLocked(j)
	case kindVideo:
		d = s.finishVideoLocked(j)
	case kindInteraction:
		d = s.finishInteractionLocked(j)
	}
	close(j.done)
	if d == nil {
		return func() {}
	}
	return func() { s.publish(d, j.hook) }
}

// Finish moves the job named name to outcome now, as if it had run to that
// end, and queues its event. name is a batch ("batches/ID"), a video
// operation ("models/M/operations/ID") or an interaction id. A job that has
// already reached its outcome is an error.
func (s *Server) Finish(name string, o Outcome) error {
	s.mu.Lock()
	j, ok := s.jobs[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoJob, name)
	}
	if !o.validFor(j.Kind) {
		s.mu.Unlock()
		return fmt.Errorf("emulator: %q is not an outcome for a %s job", o, j.Kind)
	}
	if j.Done() {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s is already %s", ErrJobDone, name, j.Phase)
	}
	s.stopLocked(j)
	publish := s.finishLocked(j, o)
	s.mu.Unlock()
	publish()
	return nil
}

// Job returns a snapshot of the job named name.
func (s *Server) Job(name string) (Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[name]
	if !ok {
		return Job{}, fmt.Errorf("%w: %s", ErrNoJob, name)
	}
	return j.snapshot(), nil
}

// Jobs returns snapshots of every job, oldest first.
func (s *Server) Jobs() []Job {
	s.mu.Lock()
	all := slices.Collect(maps.Values(s.jobs))
	slices.SortFunc(all, func(a, b *job) int { return a.seq - b.seq })
	out := make([]Job, len(all))
	for i, j := range all {
		out[i] = j.snapshot()
	}
	s.mu.Unlock()
	return out
}

// WaitJob blocks until the job named name reaches its outcome and returns
// it. Its event, if any, is queued by then (see Idle to wait for delivery).
func (s *Server) WaitJob(ctx context.Context, name string) (Job, error) {
	s.mu.Lock()
	j, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return Job{}, fmt.Errorf("%w: %s", ErrNoJob, name)
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return Job{}, fmt.Errorf("emulator: waiting for %s: %w", name, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return j.snapshot(), nil
}

func (s *Server) serveJobList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethodNotFound)
		return
	}
	type jobJSON struct {
		Name        string   `json:"name"`
		Kind        string   `json:"kind"`
		Phase       string   `json:"phase"`
		Outcome     Outcome  `json:"outcome"`
		WebhookURIs []string `json:"webhook_uris,omitempty"`
		CreateTime  string   `json:"create_time"`
		EndTime     string   `json:"end_time,omitempty"`
	}
	out := []jobJSON{}
	for _, j := range s.Jobs() {
		out = append(out, jobJSON{j.Name, j.Kind, j.Phase, j.Outcome, j.WebhookURIs, formatTime(j.CreateTime), formatTime(j.EndTime)})
	}
	writeJSON(w, http.StatusOK, struct {
		Jobs []jobJSON `json:"jobs"`
	}{out})
}
