package dispatch_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/dispatch"
	"github.com/labops/labops/internal/labtest"
)

func TestReapBlocksOnlyStaleIssues(t *testing.T) {
	t.Parallel()
	tr := newMemTracker(fixedNow)
	tr.add(dispatch.Issue{ID: "stale", Status: dispatch.StatusInProgress, Assignee: "agent:a-slot-1", UpdatedAt: t0.Add(-47 * time.Minute)})
	tr.add(dispatch.Issue{ID: "fresh", Status: dispatch.StatusInProgress, Assignee: "agent:a-slot-2", UpdatedAt: t0.Add(-29 * time.Minute)})
	tr.add(dispatch.Issue{ID: "human", Status: dispatch.StatusInProgress, Assignee: "alice", UpdatedAt: t0.Add(-5 * time.Hour)})
	tr.add(dispatch.Issue{ID: "open", UpdatedAt: t0.Add(-5 * time.Hour)})
	r := &dispatch.Reaper{Tracker: tr, StaleAfter: 30 * time.Minute, Now: fixedNow}
	rep := r.Run(t.Context())
	if diff := cmp.Diff([]dispatch.Reaped{{Issue: "stale", Minutes: 47}}, rep.Reaped); diff != "" {
		t.Fatalf("reaped (-want +got):\n%s", diff)
	}
	if got := tr.get("stale").Status; got != dispatch.StatusBlocked {
		t.Errorf("stale status = %s", got)
	}
	if diff := cmp.Diff([]string{"reaper: no progress for 47m — blocking"}, tr.commentsOf("stale")); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}
	for _, id := range []string{"fresh", "human", "open"} {
		if cs := tr.commentsOf(id); len(cs) != 0 || tr.get(id).Status == dispatch.StatusBlocked {
			t.Errorf("%s touched: %+v %q", id, tr.get(id), cs)
		}
	}
}

func TestReapLeavesIssuesChangedMeanwhile(t *testing.T) {
	t.Parallel()
	for name, change := range map[string]func(*dispatch.Issue){
		"closed":  func(is *dispatch.Issue) { is.Status = dispatch.StatusClosed },
		"updated": func(is *dispatch.Issue) { is.UpdatedAt = t0.Add(-time.Minute) },
	} {
		t.Run(name, func(t *testing.T) {
			tr := newMemTracker(fixedNow)
			tr.add(dispatch.Issue{ID: "x", Status: dispatch.StatusInProgress, Assignee: "agent:a-slot-1", UpdatedAt: t0.Add(-time.Hour)})
			// The change lands between the listing and the re-read.
			tr.onShow = func(id string) {
				tr.mu.Lock()
				change(tr.issues[id])
				tr.mu.Unlock()
			}
			rep := (&dispatch.Reaper{Tracker: tr, StaleAfter: 30 * time.Minute, Now: fixedNow}).Run(t.Context())
			if len(rep.Reaped) != 0 || len(rep.Skipped) != 1 {
				t.Errorf("report = %+v", rep)
			}
			if got := tr.get("x").Status; got == dispatch.StatusBlocked {
				t.Error("blocked an issue changed meanwhile")
			}
			if cs := tr.commentsOf("x"); len(cs) != 0 {
				t.Errorf("comments = %q", cs)
			}
		})
	}
}

func TestReapJudgesByTheAgentsReportWhenItGivesOne(t *testing.T) {
	t.Parallel()
	tr := newMemTracker(fixedNow)
	// Old updated_at, but the agent reports its job active a minute ago.
	tr.add(dispatch.Issue{ID: "busy", Status: dispatch.StatusInProgress, Assignee: "agent:a-slot-1", UpdatedAt: t0.Add(-2 * time.Hour)})
	// Recently updated (the dispatcher's own writes), but its job silent for 40m.
	tr.add(dispatch.Issue{ID: "silent", Status: dispatch.StatusInProgress, Assignee: "agent:a-slot-2", UpdatedAt: t0.Add(-time.Minute)})
	// Not in the agent's report: updated_at decides.
	tr.add(dispatch.Issue{ID: "unknown", Status: dispatch.StatusInProgress, Assignee: "agent:a-slot-3", UpdatedAt: t0.Add(-31 * time.Minute)})
	ag := labtest.StartFakeAgent(t, 3)
	ag.SetActivity("busy", t0.Add(-time.Minute))
	ag.SetActivity("silent", t0.Add(-40*time.Minute))
	r := &dispatch.Reaper{Tracker: tr, Agent: &dispatch.Agent{URL: ag.URL}, StaleAfter: 30 * time.Minute, Now: fixedNow}
	rep := r.Run(t.Context())
	got := map[string]int{}
	for _, x := range rep.Reaped {
		got[x.Issue] = x.Minutes
	}
	if diff := cmp.Diff(map[string]int{"silent": 40, "unknown": 31}, got); diff != "" {
		t.Errorf("reaped (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"reaper: no progress for 40m — blocking"}, tr.commentsOf("silent")); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}
	if tr.get("busy").Status != dispatch.StatusInProgress {
		t.Error("reaped an issue whose job the agent reports active")
	}
}

func TestReapFallsBackToUpdatedAtWhenTheAgentIsDown(t *testing.T) {
	t.Parallel()
	tr := newMemTracker(fixedNow)
	tr.add(dispatch.Issue{ID: "stale", Status: dispatch.StatusInProgress, Assignee: "agent:a-slot-1", UpdatedAt: t0.Add(-time.Hour)})
	tr.add(dispatch.Issue{ID: "fresh", Status: dispatch.StatusInProgress, Assignee: "agent:a-slot-2", UpdatedAt: t0.Add(-time.Minute)})
	r := &dispatch.Reaper{Tracker: tr, Agent: &dispatch.Agent{URL: "http://127.0.0.1:1"}, StaleAfter: 30 * time.Minute, Now: fixedNow}
	rep := r.Run(t.Context())
	if diff := cmp.Diff([]dispatch.Reaped{{Issue: "stale", Minutes: 60}}, rep.Reaped); diff != "" {
		t.Errorf("reaped (-want +got):\n%s", diff)
	}
}
