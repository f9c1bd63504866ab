// Package job defines the contract every labops job implements: a Job runs
// once and returns a Result; the Runner turns that Result into an exit code,
// metrics and a history row, the same way for one-shot runs and for serve.
package job

import (
	"context"
	"log/slog"
	"time"
)

// Status is the outcome of one run.
type Status string

const (
	// StatusOK means the job ran and everything it checked is whole.
	StatusOK Status = "ok"
	// StatusFailed means the job ran and found problems (exit code 1).
	StatusFailed Status = "failed"
	// StatusIncomplete means the job could not finish: a target was
	// unreachable, refused, or the run timed out (exit code 3). A job must
	// never report ok for what it could not see.
	StatusIncomplete Status = "incomplete"
)

// Finding is one problem (or notable fact) a job found.
type Finding struct {
	Kind    string `json:"kind"`    // machine-readable category, e.g. "missing-layer"
	Subject string `json:"subject"` // what it is about, e.g. "library/alpine:3.20"
	Message string `json:"message"` // one human sentence
}

// Result is what one run of a job computed.
type Result struct {
	Status   Status             `json:"status"`
	Findings []Finding          `json:"findings,omitempty"`
	Counters map[string]float64 `json:"counters,omitempty"`
	// Error says why a run is incomplete (or failed outright), in one line.
	Error    string        `json:"error,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// NextRunBy asks serve to run the job again no later than this (a
	// secret's rotation time, say); zero means its schedule alone decides.
	NextRunBy time.Time `json:"next_run_by,omitzero"`
}

// Job is one configured unit of work. Run must honour ctx cancellation and
// deadlines and must not panic on bad input from the network; the runner
// recovers panics anyway so that one job never takes down serve.
type Job interface {
	Run(ctx context.Context, log *slog.Logger) Result
}

// Func adapts a function to the Job interface.
type Func func(ctx context.Context, log *slog.Logger) Result

// Run calls f.
func (f Func) Run(ctx context.Context, log *slog.Logger) Result { return f(ctx, log) }

// ExitCode maps a status to the process exit code DESIGN.md defines:
// 0 all good, 1 problems found, 3 could not complete. (2, usage and
// configuration errors, never comes from a job.)
func ExitCode(s Status) int {
	switch s {
	case StatusOK:
		return 0
	case StatusFailed:
		return 1
	default:
		return 3
	}
}

// Worst returns the more severe of two statuses: incomplete > failed > ok.
func Worst(a, b Status) Status {
	rank := func(s Status) int {
		switch s {
		case StatusOK:
			return 0
		case StatusFailed:
			return 1
		default:
			return 2
		}
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}
