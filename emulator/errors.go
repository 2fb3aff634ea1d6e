package emulator

import "errors"

// Sentinel errors of the Go API.
var (
	// ErrNoJob reports a job name the server does not know.
	ErrNoJob = errors.New("emulator: no such job")
	// ErrJobDone reports a job that has already reached its outcome.
	ErrJobDone = errors.New("emulator: job already finished")
)
