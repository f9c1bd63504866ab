package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
)

// Reaper blocks the agent's in-progress issues that show no sign of life.
type Reaper struct {
	Tracker Tracker
	Kill    KillSwitch
	// StaleAfter is how long an issue may go without an update.
	StaleAfter time.Duration
	// ActorPrefix: only issues whose assignee starts with "<prefix>:" are
	// the agent's.
	ActorPrefix string
	Logger      *slog.Logger
	Now         func() time.Time
}

// Reaped is one blocked issue.
type Reaped struct {
	Issue   string `json:"issue"`
	Minutes int    `json:"minutes"`
}

// ReapReport is what one reaper pass did.
type ReapReport struct {
	Suspended string        `json:"suspended,omitempty"`
	Reaped    []Reaped      `json:"reaped,omitempty"`
	Skipped   []job.Finding `json:"skipped,omitempty"`
	Failed    []job.Finding `json:"failed,omitempty"`
	Error     string        `json:"error,omitempty"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration"`
}

// ReapNote is the comment on a reaped issue.
func ReapNote(minutes int) string {
	return fmt.Sprintf("reaper: no progress for %dm — blocking", minutes)
}

// Run is one reaper pass. Each candidate is re-read right before the
// change; one that was closed, changed hands or updated meanwhile is left
// alone.
func (r *Reaper) Run(ctx context.Context) *ReapReport {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prefix := r.ActorPrefix
	if prefix == "" {
		prefix = "agent"
	}
	rep := &ReapReport{Started: now()}
	defer func() { rep.Duration = now().Sub(rep.Started) }()
	if on, why := r.Kill.Engaged(); on {
		rep.Suspended = why
		log.Info("reaper suspended", "reason", why)
		return rep
	}
	cutoff := rep.Started.Add(-r.StaleAfter)
	cands, err := r.Tracker.InProgressBefore(ctx, cutoff)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	for _, c := range cands {
		if ctx.Err() != nil {
			rep.Error = ctx.Err().Error()
			return rep
		}
		if !strings.HasPrefix(c.Assignee, prefix+":") {
			continue
		}
		cur, err := r.Tracker.Show(ctx, c.ID)
		if err != nil {
			rep.Failed = append(rep.Failed, job.Finding{Kind: "reap-failed", Subject: c.ID, Message: err.Error()})
			continue
		}
		if why := changed(c, cur, cutoff); why != "" {
			rep.Skipped = append(rep.Skipped, job.Finding{Kind: "reap-skipped", Subject: c.ID, Message: why})
			log.Info("reaper: left alone", "issue", c.ID, "reason", why)
			continue
		}
		mins := int(now().Sub(cur.UpdatedAt) / time.Minute)
		if err := r.Tracker.Block(ctx, c.ID); err != nil {
			rep.Failed = append(rep.Failed, job.Finding{Kind: "reap-failed", Subject: c.ID, Message: err.Error()})
			continue
		}
		if err := r.Tracker.Comment(ctx, c.ID, ReapNote(mins)); err != nil {
			rep.Failed = append(rep.Failed, job.Finding{Kind: "comment-failed", Subject: c.ID, Message: err.Error()})
		}
		rep.Reaped = append(rep.Reaped, Reaped{Issue: c.ID, Minutes: mins})
		log.Info("reaped", "issue", c.ID, "minutes", mins)
	}
	return rep
}

// changed says why cur (re-read now) must not be reaped although listed
// was, or "" when it is still the same stale issue.
func changed(listed, cur Issue, cutoff time.Time) string {
	switch {
	case cur.Status != StatusInProgress:
		return "status is now " + cur.Status
	case cur.Assignee != listed.Assignee:
		return "assignee is now " + cur.Assignee
	case !cur.UpdatedAt.Equal(listed.UpdatedAt) || !cur.UpdatedAt.Before(cutoff):
		return "updated meanwhile"
	}
	return ""
}

// Result is the pass as a job result.
func (r *ReapReport) Result() job.Result {
	res := job.Result{Status: job.StatusOK, Findings: append(append([]job.Finding{}, r.Failed...), r.Skipped...),
		Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{"reaped": float64(len(r.Reaped)), "failed": float64(len(r.Failed))}}
	if len(r.Failed) > 0 {
		res.Status = job.StatusFailed
	}
	if r.Error != "" {
		res.Status, res.Error = job.StatusIncomplete, r.Error
	}
	return res
}
