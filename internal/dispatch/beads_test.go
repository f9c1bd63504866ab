package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/dispatch"
	"github.com/labops/labops/internal/labtest"
)

// These tests drive the real bd (beads 1.0.5) in a temp workspace.

func beadsTracker(w *labtest.BdWorkspace) *dispatch.Beads {
	return &dispatch.Beads{Bin: w.Bin, Dir: w.Dir, Label: "agent", Actor: "labops"}
}

func realDispatcher(t *testing.T, tr dispatch.Tracker, agentURL string) *dispatch.Dispatcher {
	t.Helper()
	p, err := dispatch.ParsePrompt("")
	if err != nil {
		t.Fatal(err)
	}
	return &dispatch.Dispatcher{Tracker: tr, Agent: &dispatch.Agent{URL: agentURL}, Prompt: p}
}

func TestBeadsDispatchedAndCommented(t *testing.T) {
	t.Parallel()
	w := labtest.StartBdWorkspace(t)
	id := w.Create("fix the thing", "--labels", "agent", "--description", "it is broken", "--acceptance", "it works")
	other := w.Create("not for the agent")
	tr := beadsTracker(w)
	ag := labtest.StartFakeAgent(t, 0)
	rep := realDispatcher(t, tr, ag.URL).Run(t.Context())
	if rep.Error != "" || len(rep.Dispatched) != 1 || rep.Dispatched[0].Issue != id {
		t.Fatalf("report = %+v", rep)
	}
	got, err := tr.Show(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != dispatch.StatusInProgress || got.Assignee != rep.Dispatched[0].Actor {
		t.Errorf("issue = %+v", got)
	}
	if diff := cmp.Diff([]string{"dispatched: job=job-1"}, w.Comments(id)); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}
	ex := ag.Executed()
	if len(ex) != 1 || !strings.Contains(ex[0].Prompt, "it is broken") || !strings.Contains(ex[0].Prompt, "it works") {
		t.Errorf("agent received %+v", ex)
	}
	if o, _ := tr.Show(t.Context(), other); o.Status != dispatch.StatusOpen {
		t.Errorf("an unlabelled issue was touched: %+v", o)
	}
}

func TestBeadsBusyAgentClaimsNothing(t *testing.T) {
	t.Parallel()
	w := labtest.StartBdWorkspace(t)
	id := w.Create("a", "--labels", "agent")
	tr := beadsTracker(w)
	ag := labtest.StartFakeAgent(t, 2)
	ag.SetBusy(true)
	rep := realDispatcher(t, tr, ag.URL).Run(t.Context())
	if !rep.AgentBusy || rep.Waiting != 1 || len(rep.Dispatched) != 0 {
		t.Fatalf("report = %+v", rep)
	}
	if got, _ := tr.Show(t.Context(), id); got.Status != dispatch.StatusOpen || got.Assignee != "" {
		t.Errorf("issue = %+v, want untouched", got)
	}
}

func TestBeadsFailedPostReturnsIssueToOpen(t *testing.T) {
	t.Parallel()
	w := labtest.StartBdWorkspace(t)
	id := w.Create("a", "--labels", "agent")
	tr := beadsTracker(w)
	ag := labtest.StartFakeAgent(t, 0)
	ag.FailWith(http.StatusBadGateway)
	rep := realDispatcher(t, tr, ag.URL).Run(t.Context())
	if len(rep.Failed) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	if got, _ := tr.Show(t.Context(), id); got.Status != dispatch.StatusOpen || got.Assignee != "" {
		t.Errorf("issue = %+v, want open and unassigned", got)
	}
	cs := w.Comments(id)
	if len(cs) != 1 || !strings.HasPrefix(cs[0], "dispatch failed, returned to open: ") || !strings.Contains(cs[0], "502") {
		t.Errorf("comments = %q", cs)
	}
	// Back in the queue: the next pass dispatches it.
	ag.FailWith(0)
	if rep := realDispatcher(t, tr, ag.URL).Run(t.Context()); len(rep.Dispatched) != 1 {
		t.Errorf("second pass = %+v", rep)
	}
}

func TestBeadsConcurrentDispatchersDispatchEachIssueOnce(t *testing.T) {
	t.Parallel()
	for round := range 4 {
		w := labtest.StartBdWorkspace(t)
		var ids []string
		for i := range 3 {
			ids = append(ids, w.Create(fmt.Sprintf("task %d", i), "--labels", "agent"))
		}
		ag := labtest.StartFakeAgent(t, 8)
		var wg sync.WaitGroup
		start := make(chan struct{})
		reps := make([]*dispatch.RunReport, 2)
		for i := range reps {
			wg.Go(func() {
				<-start
				reps[i] = realDispatcher(t, beadsTracker(w), ag.URL).Run(context.Background())
			})
		}
		close(start)
		wg.Wait()
		seen := map[string]int{}
		for _, e := range ag.Executed() {
			seen[e.IssueID]++
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("round %d: %s dispatched %d times (reports %+v %+v)", round, id, seen[id], reps[0], reps[1])
			}
			if cs := w.Comments(id); len(cs) != 1 {
				t.Errorf("round %d: %s comments %q", round, id, cs)
			}
		}
	}
}

// showHook wraps a tracker, running before each Show.
type showHook struct {
	dispatch.Tracker
	before func(id string)
}

func (h showHook) Show(ctx context.Context, id string) (dispatch.Issue, error) {
	h.before(id)
	return h.Tracker.Show(ctx, id)
}

func TestBeadsReaperBlocksOnlyStaleIssues(t *testing.T) {
	t.Parallel()
	w := labtest.StartBdWorkspace(t)
	tr := beadsTracker(w)
	ctx := t.Context()
	stale := w.Create("stale", "--labels", "agent")
	closing := w.Create("closed meanwhile", "--labels", "agent")
	fresh := w.Create("fresh", "--labels", "agent")
	for _, id := range []string{stale, closing} {
		if err := tr.Claim(ctx, id, "agent:old-slot-1"); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := tr.Show(ctx, closing)
	// bd's --updated-before has second precision: let the clock pass a
	// second boundary before the fresh claim.
	for !time.Now().Truncate(time.Second).After(before.UpdatedAt) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := tr.Claim(ctx, fresh, "agent:new-slot-1"); err != nil {
		t.Fatal(err)
	}
	f, _ := tr.Show(ctx, fresh)
	cut := f.UpdatedAt.Truncate(time.Second)
	s, _ := tr.Show(ctx, stale)
	now := func() time.Time { return cut.Add(30 * time.Minute) }
	wantMin := int(now().Sub(s.UpdatedAt) / time.Minute)
	r := &dispatch.Reaper{
		Tracker: showHook{Tracker: tr, before: func(id string) {
			if id == closing {
				w.Run("close", closing)
			}
		}},
		StaleAfter: 30 * time.Minute, Now: now,
	}
	rep := r.Run(ctx)
	if diff := cmp.Diff([]dispatch.Reaped{{Issue: stale, Minutes: wantMin}}, rep.Reaped); diff != "" {
		t.Fatalf("reaped (-want +got):\n%s\nreport %+v", diff, rep)
	}
	if got, _ := tr.Show(ctx, stale); got.Status != dispatch.StatusBlocked {
		t.Errorf("stale issue status %s", got.Status)
	}
	if diff := cmp.Diff([]string{dispatch.ReapNote(wantMin)}, w.Comments(stale)); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}
	if got, _ := tr.Show(ctx, closing); got.Status != dispatch.StatusClosed || len(w.Comments(closing)) != 0 {
		t.Errorf("closed meanwhile: %+v, comments %q", got, w.Comments(closing))
	}
	if got, _ := tr.Show(ctx, fresh); got.Status != dispatch.StatusInProgress || len(w.Comments(fresh)) != 0 {
		t.Errorf("fresh: %+v", got)
	}
}
