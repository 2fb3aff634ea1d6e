package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// serveAdmin serves the emulator's own control endpoints, for clients that
// cannot reach the Go API (the CLI demo, curl). Like API calls they need the
// API key:
//
//	POST /emulator/v1/jobs:finish {"name":"batches/ID","outcome":"failed"}
//	POST /emulator/v1/faults      {"duplicate_rate":0.5,"delay":"250ms","reorder":0,
//	                               "reorder_hold":"100ms","fail_first":2,"fail_next":1,
//	                               "cut_connection":1}
//
// GET /emulator/v1/deliveries and GET /emulator/v1/jobs are read-only and open.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, errMethodNotFound)
		return
	}
	if e := s.authenticate(r); e != nil {
		writeError(w, e)
		return
	}
	var e *apiError
	switch r.URL.Path {
	case "/emulator/v1/jobs:finish":
		e = s.adminFinish(w, r)
	case "/emulator/v1/faults":
		e = s.adminFaults(w, r)
	default:
		e = errMethodNotFound
	}
	if e != nil {
		writeError(w, e)
	}
}

func (s *Server) adminFinish(w http.ResponseWriter, r *http.Request) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	if e := rejectUnknown(body, "", "name", "outcome"); e != nil {
		return e
	}
	var name, outcome string
	if _, e := decodeField(body, "name", &name); e != nil {
		return e
	}
	if _, e := decodeField(body, "outcome", &outcome); e != nil {
		return e
	}
	if outcome == "" {
		outcome = string(outcomeSucceeded)
	}
	switch err := s.Finish(name, Outcome(outcome)); {
	case errors.Is(err, ErrNoJob):
		return errNotFound(fmt.Sprintf("Job %q not found.", name))
	case errors.Is(err, ErrJobDone):
		return errPrecondition(fmt.Sprintf("Job %q has already finished.", name))
	case err != nil:
		return errInvalid(fmt.Sprintf("Invalid value at 'outcome': %q is not an outcome for this job.", outcome))
	}
	job, _ := s.Job(name)
	writeJSON(w, http.StatusOK, map[string]any{"name": job.Name, "kind": job.Kind, "outcome": job.Outcome})
	return nil
}

func (s *Server) adminFaults(w http.ResponseWriter, r *http.Request) *apiError {
	body, e := decodeObject(r)
	if e != nil {
		return e
	}
	if e := rejectUnknown(body, "", "duplicate_rate", "delay", "reorder", "reorder_hold", "fail_first", "fail_next", "cut_connection"); e != nil {
		return e
	}
	var f Faults
	var delay, hold string
	for name, dst := range map[string]any{
		"duplicate_rate": &f.DuplicateRate, "delay": &delay, "reorder": &f.Reorder,
		"reorder_hold": &hold, "fail_first": &f.FailFirst, "fail_next": &f.FailNext, "cut_connection": &f.CutConnection,
	} {
		if _, e := decodeField(body, name, dst); e != nil {
			return e
		}
	}
	for _, d := range []struct {
		text string
		dst  *time.Duration
		at   string
	}{{delay, &f.Delay, "delay"}, {hold, &f.ReorderHold, "reorder_hold"}} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil {
			return errInvalid(fmt.Sprintf("Invalid value at '%s': %q is not a duration such as \"250ms\".", d.at, d.text))
		}
		*d.dst = v
	}
	if err := s.SetFaults(f); err != nil {
		return errInvalid(err.Error())
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
