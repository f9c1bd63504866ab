package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labops/labops/internal/dispatch"
	"github.com/labops/labops/internal/labtest"
)

// The assignee queue against the real bd: issues assigned to "agent",
// claimed by an election on their comments.

func assigneeTracker(w *labtest.BdWorkspace) *dispatch.Beads {
	return &dispatch.Beads{Bin: w.Bin, Dir: w.Dir, Label: "agent", Actor: "agent", Queue: dispatch.QueueAssignee}
}

func assigneeDispatcher(t *testing.T, tr dispatch.Tracker, agentURL, pass string) *dispatch.Dispatcher {
	d := realDispatcher(t, tr, agentURL)
	d.Queue, d.ActorPrefix, d.PassID = dispatch.QueueAssignee, "agent", pass
	return d
}

func countPrefix(cs []string, prefix string) int {
	n := 0
	for _, c := range cs {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func TestBeadsAssigneeConcurrentDispatchersDispatchEachIssueOnce(t *testing.T) {
	t.Parallel()
	for round := range 4 {
		w := labtest.StartBdWorkspace(t)
		var ids []string
		for i := range 3 {
			ids = append(ids, w.Create(fmt.Sprintf("task %d", i), "--assignee", "agent"))
		}
		unqueued := w.Create("someone else's", "--assignee", "bob")
		ag := labtest.StartFakeAgent(t, 8)
		var wg sync.WaitGroup
		start := make(chan struct{})
		reps := make([]*dispatch.RunReport, 2)
		for i := range reps {
			wg.Go(func() {
				<-start
				reps[i] = assigneeDispatcher(t, assigneeTracker(w), ag.URL, fmt.Sprintf("r%d-p%d", round, i)).Run(context.Background())
			})
		}
		close(start)
		wg.Wait()
		for _, r := range reps {
			if r.Error != "" || len(r.Failed) != 0 {
				t.Fatalf("round %d: report %+v", round, r)
			}
		}
		if n := len(reps[0].Dispatched) + len(reps[1].Dispatched); n != len(ids) {
			t.Errorf("round %d: %d dispatches reported, want %d (%+v %+v)", round, n, len(ids), reps[0], reps[1])
		}
		seen := map[string]int{}
		for _, e := range ag.Executed() {
			seen[e.IssueID]++
		}
		tr := assigneeTracker(w)
		for _, id := range ids {
			cs := w.Comments(id)
			if seen[id] != 1 || countPrefix(cs, "dispatched: ") != 1 {
				t.Errorf("round %d: %s executed %d times, comments %q", round, id, seen[id], cs)
			}
			if got, _ := tr.Show(t.Context(), id); got.Status != dispatch.StatusInProgress || got.Assignee != "agent" {
				t.Errorf("round %d: %s = %+v, want in progress, still assigned to agent", round, id, got)
			}
		}
		if got, _ := tr.Show(t.Context(), unqueued); got.Status != dispatch.StatusOpen || len(w.Comments(unqueued)) != 0 {
			t.Errorf("round %d: an issue not assigned to agent was touched: %+v", round, got)
		}
	}
}

func TestBeadsAssigneeFailedPostReturnsIssueToOpen(t *testing.T) {
	t.Parallel()
	w := labtest.StartBdWorkspace(t)
	id := w.Create("a", "--assignee", "agent")
	tr := assigneeTracker(w)
	ag := labtest.StartFakeAgent(t, 0)
	ag.FailWith(http.StatusBadGateway)
	rep := assigneeDispatcher(t, tr, ag.URL, "p1").Run(t.Context())
	if len(rep.Failed) != 1 || len(rep.Dispatched) != 0 {
		t.Fatalf("report = %+v", rep)
	}
	if got, _ := tr.Show(t.Context(), id); got.Status != dispatch.StatusOpen || got.Assignee != "agent" {
		t.Errorf("issue = %+v, want open and still assigned to agent", got)
	}
	cs := w.Comments(id)
	if len(cs) != 2 || cs[0] != "claim: p1" || !strings.HasPrefix(cs[1], "release: p1 — ") || !strings.Contains(cs[1], "502") {
		t.Errorf("comments = %q", cs)
	}
	// Back in the queue: a later pass wins the next round and dispatches it.
	ag.FailWith(0)
	rep = assigneeDispatcher(t, tr, ag.URL, "p2").Run(t.Context())
	if len(rep.Dispatched) != 1 {
		t.Fatalf("second pass = %+v", rep)
	}
	if cs := w.Comments(id); len(cs) != 4 || cs[2] != "claim: p2" || cs[3] != "dispatched: job=job-1" {
		t.Errorf("comments = %q", cs)
	}
	// The reaper finds the in-progress issue assigned to agent.
	got, _ := tr.Show(t.Context(), id)
	now := func() time.Time { return got.UpdatedAt.Add(time.Hour) }
	r := &dispatch.Reaper{Tracker: tr, StaleAfter: 30 * time.Minute, Now: now, ActorPrefix: "agent", Queue: dispatch.QueueAssignee}
	if rep := r.Run(t.Context()); len(rep.Reaped) != 1 || rep.Reaped[0].Issue != id {
		t.Errorf("reaper = %+v", rep)
	}
	if got, _ := tr.Show(t.Context(), id); got.Status != dispatch.StatusBlocked {
		t.Errorf("after the reaper: %+v", got)
	}
}
