package dispatch

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Queue kinds (Spec.Queue).
const (
	// QueueLabel: open, unassigned issues carrying the label; claimed with
	// bd's own compare-and-set under a distinct actor per pass and slot.
	QueueLabel = "label"
	// QueueAssignee: open issues assigned to the actor; claimed by an
	// election on the comments, the assignee left as it is.
	QueueAssignee = "assignee"
)

// Comment texts of the assignee queue's election.
const (
	claimPrefix      = "claim: "
	releasePrefix    = "release: "
	dispatchedPrefix = "dispatched: "
)

// ClaimTTL bounds how far apart two contenders' claims can be and still
// meet in one election: a claim made more than ClaimTTL before one's own
// is ignored. It only matters for claims left behind by a pass that lost
// (or died) and would otherwise win every later election on the issue; a
// pass decides its election within seconds.
const ClaimTTL = 5 * time.Minute

// Comment is one comment of an issue, as `bd comments <id> --json` lists it.
type Comment struct {
	ID        string    `json:"id"`
	Author    string    `json:"author,omitempty"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// Elector is what the assignee queue needs beyond Tracker: the issue's
// comments, and a status change that keeps the assignee.
type Elector interface {
	Comments(ctx context.Context, id string) ([]Comment, error)
	SetStatus(ctx context.Context, id, status string) error
}

// sortComments puts comments in the election's order: by created_at,
// then by id (bd's comment ids are UUIDv7, so time-ordered too), which
// every reader of the same comments agrees on.
func sortComments(cs []Comment) []Comment {
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b Comment) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return cs
}

// isMarker: a comment that closes an election round ("release: ..." after
// a failed post, "dispatched: ..." after a successful one).
func isMarker(text string) bool {
	return strings.HasPrefix(text, releasePrefix) || strings.HasPrefix(text, dispatchedPrefix)
}

// Elect decides the election for pass on an issue's comments. In the
// election's order (sortComments), the round is the comments after the
// latest marker; its candidates are the claims ("claim: <pass-id>") in
// it, less those made more than ClaimTTL before pass's own claim. pass
// wins when its claim is the first candidate. epoch names the round (the
// latest marker's id, or "0" before any), for the idempotency key: two
// passes that both believed they won one round send the same key.
// found is false when pass's claim is not among the comments at all; a
// claim that sorts before the latest marker is found and lost (the round
// it came for is over).
func Elect(cs []Comment, pass string) (won bool, epoch string, found bool) {
	cs = sortComments(cs)
	epoch, start := "0", 0
	for i, c := range cs {
		if isMarker(c.Text) {
			epoch, start = c.ID, i+1
		}
	}
	round := cs[start:]
	mine := claimPrefix + pass
	var own *Comment
	for i := range round {
		if strings.TrimSpace(round[i].Text) == mine {
			own = &round[i]
			break
		}
	}
	if own == nil {
		found = slices.ContainsFunc(cs[:start], func(c Comment) bool { return strings.TrimSpace(c.Text) == mine })
		return false, epoch, found
	}
	for _, c := range round {
		if !strings.HasPrefix(c.Text, claimPrefix) || c.CreatedAt.Before(own.CreatedAt.Add(-ClaimTTL)) {
			continue
		}
		return c.ID == own.ID, epoch, true
	}
	return false, epoch, true
}
