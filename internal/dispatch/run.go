package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/labops/labops/internal/job"
)

// AgentService is what a dispatch pass needs of the agent service.
type AgentService interface {
	Health(ctx context.Context) (Health, error)
	Execute(ctx context.Context, r ExecuteRequest) (string, error)
}

var _ AgentService = (*Agent)(nil)

// Dispatcher runs dispatch passes.
type Dispatcher struct {
	Tracker Tracker
	Agent   AgentService
	Prompt  *Prompt
	Kill    KillSwitch
	// ActorPrefix starts every claim's actor ("agent").
	ActorPrefix string
	Logger      *slog.Logger
	Now         func() time.Time
	// PassID names this pass in its actors; empty means a random one.
	PassID string
	// Queue is QueueLabel (default) or QueueAssignee: then the queue is
	// the open issues assigned to ActorPrefix itself, and a claim is an
	// election on the issue's comments (Tracker must be an Elector).
	Queue string
}

// Dispatched is one issue handed to the agent.
type Dispatched struct {
	Issue string `json:"issue"`
	Actor string `json:"actor"`
	JobID string `json:"job_id"`
}

// RunReport is what one dispatch pass did.
type RunReport struct {
	Suspended      string        `json:"suspended,omitempty"`
	AgentBusy      bool          `json:"agent_busy"`
	FreeSlots      int           `json:"free_slots"`
	Waiting        int           `json:"waiting"`
	Dispatched     []Dispatched  `json:"dispatched,omitempty"`
	Failed         []job.Finding `json:"failed,omitempty"`
	ClaimConflicts int           `json:"claim_conflicts"`
	Error          string        `json:"error,omitempty"`
	Started        time.Time     `json:"started"`
	Duration       time.Duration `json:"duration"`
}

// Run is one dispatch pass: unless the kill switch is on, claim as many
// queued issues as the agent has free slots, post each, and comment
// "dispatched: job=<id>". A failed post undoes the claim (back to open,
// with a comment saying why).
func (d *Dispatcher) Run(ctx context.Context) *RunReport {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := &RunReport{Started: now()}
	defer func() { rep.Duration = now().Sub(rep.Started) }()
	if on, why := d.Kill.Engaged(); on {
		// Still count the queue (read-only), so the backlog alert holds
		// while dispatch is off; a tracker that cannot answer is no error
		// of a suspended pass.
		rep.Suspended = why
		if queue, err := d.Tracker.Ready(ctx); err == nil {
			rep.Waiting = len(queue)
		} else {
			log.Warn("dispatch suspended; queue not counted", "err", err)
		}
		log.Info("dispatch suspended", "reason", why, "waiting", rep.Waiting)
		return rep
	}
	// The queue is read before the agent is asked, so the waiting count
	// (and the backlog alert on it) holds while the agent is down.
	queue, err := d.Tracker.Ready(ctx)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.Waiting = len(queue)
	h, err := d.Agent.Health(ctx)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.FreeSlots = h.Free()
	rep.AgentBusy = rep.FreeSlots == 0
	if rep.AgentBusy {
		log.Info("agent service busy: nothing claimed", "waiting", rep.Waiting)
		return rep
	}
	pass := d.PassID
	if pass == "" {
		pass = randomID()
	}
	prefix := d.ActorPrefix
	if prefix == "" {
		prefix = "agent"
	}
	var el Elector
	if d.Queue == QueueAssignee {
		var ok bool
		if el, ok = d.Tracker.(Elector); !ok {
			rep.Error = "the assignee queue needs a tracker that lists comments"
			return rep
		}
	}
	slot := 0
	for _, is := range queue {
		if slot >= rep.FreeSlots || ctx.Err() != nil {
			break
		}
		if el != nil {
			won, key, err := d.elect(ctx, el, is.ID, prefix, pass)
			if err != nil {
				rep.Error = err.Error()
				return rep
			}
			if !won {
				rep.ClaimConflicts++
				log.Info("election lost", "issue", is.ID, "pass", pass)
				continue
			}
			slot++
			d.post(ctx, log, rep, is, prefix, key, func(uctx context.Context, why string) error {
				if err := d.Tracker.Comment(uctx, is.ID, releasePrefix+pass+" — "+why); err != nil {
					return err
				}
				return el.SetStatus(uctx, is.ID, StatusOpen)
			})
			continue
		}
		actor := fmt.Sprintf("%s:%s-slot-%d", prefix, pass, slot+1)
		won, err := d.claim(ctx, is.ID, actor)
		if err != nil {
			rep.Error = err.Error()
			return rep
		}
		if !won {
			rep.ClaimConflicts++
			log.Info("claim lost", "issue", is.ID, "actor", actor)
			continue
		}
		slot++
		d.post(ctx, log, rep, is, actor, is.ID+"/"+actor, nil)
	}
	rep.Waiting -= len(rep.Dispatched)
	return rep
}

// claim reports whether actor won id: beads' compare-and-set, then a
// read-back that shows actor holding the in-progress issue.
func (d *Dispatcher) claim(ctx context.Context, id, actor string) (bool, error) {
	if err := d.Tracker.Claim(ctx, id, actor); err != nil {
		if errors.Is(err, ErrClaimConflict) {
			return false, nil
		}
		return false, err
	}
	got, err := d.Tracker.Show(ctx, id)
	if err != nil {
		return false, err
	}
	return got.Assignee == actor && got.Status == StatusInProgress, nil
}

// elect claims id for pass on the assignee queue: it comments
// "claim: <pass>", re-reads the comments and wins when Elect says so and
// the issue, read after its own claim, is still open and assigned to
// actor (a claim that lands after the round's winner already took the
// issue sees it in progress). The winner sets the status in progress,
// keeping the assignee. key is the idempotency key of the round.
func (d *Dispatcher) elect(ctx context.Context, el Elector, id, actor, pass string) (won bool, key string, err error) {
	if err := d.Tracker.Comment(ctx, id, claimPrefix+pass); err != nil {
		return false, "", err
	}
	cs, err := el.Comments(ctx, id)
	if err != nil {
		return false, "", err
	}
	won, epoch, found := Elect(cs, pass)
	if !found {
		return false, "", fmt.Errorf("issue %s: the claim comment of pass %s is not among its comments", id, pass)
	}
	if !won {
		return false, "", nil
	}
	cur, err := d.Tracker.Show(ctx, id)
	if err != nil {
		return false, "", err
	}
	if cur.Status != StatusOpen || cur.Assignee != actor {
		return false, "", nil
	}
	if err := el.SetStatus(ctx, id, StatusInProgress); err != nil {
		return false, "", err
	}
	return true, id + "/" + epoch, nil
}

// post sends a won issue to the agent under the idempotency key; on
// failure it undoes the claim with undo (nil: Release, then a comment).
func (d *Dispatcher) post(ctx context.Context, log *slog.Logger, rep *RunReport, is Issue, actor, key string, undo func(ctx context.Context, why string) error) {
	full, err := d.Tracker.Show(ctx, is.ID)
	if err == nil {
		is = full
	}
	prompt, err := d.Prompt.Render(is)
	var jobID string
	if err == nil {
		jobID, err = d.Agent.Execute(ctx, ExecuteRequest{IssueID: is.ID, Title: is.Title, Prompt: prompt, IdempotencyKey: key})
	}
	if err != nil {
		log.Warn("dispatch failed: returning the issue to open", "issue", is.ID, "err", err)
		rep.Failed = append(rep.Failed, job.Finding{Kind: "dispatch-failed", Subject: is.ID, Message: err.Error()})
		// Undo with a context of its own: a cancelled pass must still not
		// leave a claimed issue that no agent works on.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if undo != nil {
			if rerr := undo(uctx, err.Error()); rerr != nil {
				rep.Failed = append(rep.Failed, job.Finding{Kind: "release-failed", Subject: is.ID, Message: rerr.Error()})
			}
			return
		}
		if rerr := d.Tracker.Release(uctx, is.ID); rerr != nil {
			rep.Failed = append(rep.Failed, job.Finding{Kind: "release-failed", Subject: is.ID, Message: rerr.Error()})
			return
		}
		if cerr := d.Tracker.Comment(uctx, is.ID, "dispatch failed, returned to open: "+err.Error()); cerr != nil {
			rep.Failed = append(rep.Failed, job.Finding{Kind: "comment-failed", Subject: is.ID, Message: cerr.Error()})
		}
		return
	}
	rep.Dispatched = append(rep.Dispatched, Dispatched{Issue: is.ID, Actor: actor, JobID: jobID})
	log.Info("dispatched", "issue", is.ID, "job_id", jobID, "actor", actor)
	if err := d.Tracker.Comment(ctx, is.ID, "dispatched: job="+jobID); err != nil {
		rep.Failed = append(rep.Failed, job.Finding{Kind: "comment-failed", Subject: is.ID, Message: err.Error()})
	}
}

// Result is the pass as a job result: incomplete when the tracker or the
// agent could not be asked, failed when a dispatch failed.
func (r *RunReport) Result() job.Result {
	res := job.Result{Status: job.StatusOK, Findings: r.Failed, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{
			"waiting": float64(r.Waiting), "dispatched": float64(len(r.Dispatched)),
			"failed": float64(len(r.Failed)), "claim_conflicts": float64(r.ClaimConflicts),
		}}
	if len(r.Failed) > 0 {
		res.Status = job.StatusFailed
	}
	if r.Error != "" {
		res.Status, res.Error = job.StatusIncomplete, r.Error
	}
	return res
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
