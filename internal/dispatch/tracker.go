package dispatch

import (
	"context"
	"errors"
	"time"
)

// Issue is what the passes need of a tracker issue.
type Issue struct {
	ID                 string    `json:"id"`
	Title              string    `json:"title"`
	Description        string    `json:"description,omitempty"`
	AcceptanceCriteria string    `json:"acceptance_criteria,omitempty"`
	Status             string    `json:"status"`
	Assignee           string    `json:"assignee,omitempty"`
	Labels             []string  `json:"labels,omitempty"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// Issue statuses the passes read and write.
const (
	StatusOpen       = "open"
	StatusInProgress = "in_progress"
	StatusBlocked    = "blocked"
	StatusClosed     = "closed"
)

// ErrClaimConflict means someone else holds the issue (or it is no longer
// claimable): the claim was lost, not failed.
var ErrClaimConflict = errors.New("claim conflict")

// ErrNotFound means the tracker has no such issue.
var ErrNotFound = errors.New("issue not found")

// Tracker is the issue tracker as the dispatcher and the reaper see it.
type Tracker interface {
	// Ready lists the queue: open, unblocked, unassigned issues queued for
	// the agent.
	Ready(ctx context.Context) ([]Issue, error)
	// Show reads one issue now.
	Show(ctx context.Context, id string) (Issue, error)
	// Claim moves an open issue to in progress with actor as assignee, as
	// one compare-and-set; ErrClaimConflict when it was not claimable.
	Claim(ctx context.Context, id, actor string) error
	// Release undoes a claim: open and unassigned again.
	Release(ctx context.Context, id string) error
	// Block sets the status to blocked.
	Block(ctx context.Context, id string) error
	// Comment appends a comment to the issue's audit trail.
	Comment(ctx context.Context, id, text string) error
	// InProgressBefore lists the agent's in-progress issues last updated
	// before t.
	InProgressBefore(ctx context.Context, t time.Time) ([]Issue, error)
}
