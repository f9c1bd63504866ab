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
	// Agent, when set, is asked for its running jobs: a job's reported
	// last activity is the issue's sign of life, updated_at otherwise.
	Agent interface {
		Health(ctx context.Context) (Health, error)
	}
	Kill KillSwitch
	// StaleAfter is how long an issue may go without an update.
	StaleAfter time.Duration
	// ActorPrefix: only issues whose assignee starts with "<prefix>:" are
	// the agent's.
	ActorPrefix string
	// Queue is QueueLabel (default) or QueueAssignee: then the agent's
	// issues are those assigned to ActorPrefix itself.
	Queue  string
	Logger *slog.Logger
	Now    func() time.Time
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
	activity := r.agentActivity(ctx, log)
	// With the agent's report, an issue updated recently (the dispatcher's
	// own writes bump updated_at) can still be stale: list them all.
	listBefore := cutoff
	if activity != nil {
		listBefore = rep.Started.Add(time.Second)
	}
	cands, err := r.Tracker.InProgressBefore(ctx, listBefore)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	for _, c := range cands {
		if ctx.Err() != nil {
			rep.Error = ctx.Err().Error()
			return rep
		}
		if r.Queue == QueueAssignee {
			if c.Assignee != prefix {
				continue
			}
		} else if !strings.HasPrefix(c.Assignee, prefix+":") {
			continue
		}
		lastSign := c.UpdatedAt
		if t, ok := activity[c.ID]; ok {
			lastSign = t
		}
		if !lastSign.Before(cutoff) {
			continue
		}
		cur, err := r.Tracker.Show(ctx, c.ID)
		if err != nil {
			rep.Failed = append(rep.Failed, job.Finding{Kind: "reap-failed", Subject: c.ID, Message: err.Error()})
			continue
		}
		if why := changed(c, cur); why != "" {
			rep.Skipped = append(rep.Skipped, job.Finding{Kind: "reap-skipped", Subject: c.ID, Message: why})
			log.Info("reaper: left alone", "issue", c.ID, "reason", why)
			continue
		}
		mins := int(now().Sub(lastSign) / time.Minute)
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
// was, or "" when it is still the same issue, untouched since the listing.
func changed(listed, cur Issue) string {
	switch {
	case cur.Status != StatusInProgress:
		return "status is now " + cur.Status
	case cur.Assignee != listed.Assignee:
		return "assignee is now " + cur.Assignee
	case !cur.UpdatedAt.Equal(listed.UpdatedAt):
		return "updated meanwhile"
	}
	return ""
}

// agentActivity is each running job's last activity by issue, or nil when
// there is no agent, it cannot be asked, or it does not report jobs: then
// updated_at alone decides, as without an agent.
func (r *Reaper) agentActivity(ctx context.Context, log *slog.Logger) map[string]time.Time {
	if r.Agent == nil {
		return nil
	}
	h, err := r.Agent.Health(ctx)
	if err != nil {
		log.Warn("reaper: agent service not answering; judging by updated_at alone", "err", err)
		return nil
	}
	if h.Jobs == nil {
		return nil
	}
	m := map[string]time.Time{}
	for _, j := range h.Jobs {
		if j.IssueID != "" && !j.LastActivity.IsZero() {
			m[j.IssueID] = j.LastActivity
		}
	}
	return m
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
