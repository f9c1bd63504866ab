package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/dispatch"
	"github.com/labops/labops/internal/labtest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

func newDispatcher(t *testing.T, tr dispatch.Tracker, agentURL string) *dispatch.Dispatcher {
	t.Helper()
	p, err := dispatch.ParsePrompt("")
	if err != nil {
		t.Fatal(err)
	}
	return &dispatch.Dispatcher{Tracker: tr, Agent: &dispatch.Agent{URL: agentURL}, Prompt: p, Now: fixedNow}
}

func TestRunDispatchesAndComments(t *testing.T) {
	t.Parallel()
	tr := newMemTracker(fixedNow)
	tr.add(dispatch.Issue{ID: "bd-1", Title: "fix the thing", Description: "it is broken", AcceptanceCriteria: "it works"})
	ag := labtest.StartFakeAgent(t, 0)
	rep := newDispatcher(t, tr, ag.URL).Run(t.Context())
	if rep.Error != "" || len(rep.Dispatched) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	got := tr.get("bd-1")
	if got.Status != dispatch.StatusInProgress || !strings.HasPrefix(got.Assignee, "agent:") {
		t.Errorf("issue after dispatch = %+v", got)
	}
	if diff := cmp.Diff([]string{"dispatched: job=job-1"}, tr.commentsOf("bd-1")); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}
	ex := ag.Executed()
	if len(ex) != 1 || ex[0].IssueID != "bd-1" || ex[0].Header == "" || ex[0].Header != ex[0].IdempotencyKey {
		t.Fatalf("agent received %+v", ex)
	}
	for _, want := range []string{"bd-1", "fix the thing", "it is broken", "it works"} {
		if !strings.Contains(ex[0].Prompt, want) {
			t.Errorf("prompt %q lacks %q", ex[0].Prompt, want)
		}
	}
}

func TestRunSendsTheBearerTokenFromAFile(t *testing.T) {
	t.Parallel()
	tr := newMemTracker(fixedNow)
	tr.add(dispatch.Issue{ID: "bd-1", Title: "a"})
	ag := labtest.StartFakeAgent(t, 0)
	ag.RequireToken("s3cret")
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDispatcher(t, tr, ag.URL)
	d.Agent = &dispatch.Agent{URL: ag.URL, TokenFile: tok}
	if rep := d.Run(t.Context()); len(rep.Dispatched) != 1 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestRunBusyAgentClaimsNothing(t *testing.T) {
	t.Parallel()
	for _, slots := range []int{0, 3} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			tr := newMemTracker(fixedNow)
			tr.add(dispatch.Issue{ID: "bd-1", Title: "a"})
			ag := labtest.StartFakeAgent(t, slots)
			ag.SetBusy(true)
			rep := newDispatcher(t, tr, ag.URL).Run(t.Context())
			if !rep.AgentBusy || len(rep.Dispatched) != 0 || rep.Waiting != 1 {
				t.Errorf("report = %+v", rep)
			}
			if got := tr.get("bd-1"); got.Status != dispatch.StatusOpen || got.Assignee != "" {
				t.Errorf("issue = %+v, want untouched", got)
			}
		})
	}
}

func TestRunUsesEveryFreeSlot(t *testing.T) {
	t.Parallel()
	tr := newMemTracker(fixedNow)
	for i := 1; i <= 6; i++ {
		tr.add(dispatch.Issue{ID: fmt.Sprintf("bd-%d", i), Title: "a"})
	}
	ag := labtest.StartFakeAgent(t, 4)
	rep := newDispatcher(t, tr, ag.URL).Run(t.Context())
	if len(rep.Dispatched) != 4 || rep.Waiting != 2 {
		t.Fatalf("report = %+v", rep)
	}
	actors := map[string]bool{}
	for _, d := range rep.Dispatched {
		actors[d.Actor] = true
	}
	if len(actors) != 4 {
		t.Errorf("actors %v: want one per slot", actors)
	}
}

func TestRunFailedPostReturnsIssueToOpen(t *testing.T) {
	t.Parallel()
	tr := newMemTracker(fixedNow)
	tr.add(dispatch.Issue{ID: "bd-1", Title: "a"})
	ag := labtest.StartFakeAgent(t, 0)
	ag.FailWith(http.StatusInternalServerError)
	rep := newDispatcher(t, tr, ag.URL).Run(t.Context())
	if len(rep.Failed) != 1 || rep.Result().Status != "failed" {
		t.Fatalf("report = %+v", rep)
	}
	if got := tr.get("bd-1"); got.Status != dispatch.StatusOpen || got.Assignee != "" {
		t.Errorf("issue = %+v, want open and unassigned", got)
	}
	cs := tr.commentsOf("bd-1")
	if len(cs) != 1 || !strings.HasPrefix(cs[0], "dispatch failed, returned to open: ") || !strings.Contains(cs[0], "500") {
		t.Errorf("comments = %q", cs)
	}
}

func TestRunConcurrentDispatchersDispatchEachIssueOnce(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		tr := newMemTracker(fixedNow)
		for i := 1; i <= 5; i++ {
			tr.add(dispatch.Issue{ID: fmt.Sprintf("bd-%d", i), Title: "a"})
		}
		ag := labtest.StartFakeAgent(t, 10)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 3 {
			wg.Go(func() {
				<-start
				newDispatcher(t, tr, ag.URL).Run(context.Background())
			})
		}
		close(start)
		wg.Wait()
		seen := map[string]int{}
		for _, e := range ag.Executed() {
			seen[e.IssueID]++
		}
		for i := 1; i <= 5; i++ {
			id := fmt.Sprintf("bd-%d", i)
			if seen[id] != 1 {
				t.Errorf("round %d: %s dispatched %d times", round, id, seen[id])
			}
			if cs := tr.commentsOf(id); len(cs) != 1 {
				t.Errorf("round %d: %s comments %q", round, id, cs)
			}
		}
	}
}

func TestRunReadBackMustShowTheClaimer(t *testing.T) {
	t.Parallel()
	// A tracker whose claim "succeeds" for everyone (a shared actor): the
	// read-back shows someone else, so the claim counts as lost.
	tr := newMemTracker(fixedNow)
	tr.add(dispatch.Issue{ID: "bd-1", Title: "a"})
	tr.onShow = func(id string) {
		tr.mu.Lock()
		tr.issues[id].Assignee = "agent:someone-else"
		tr.mu.Unlock()
	}
	ag := labtest.StartFakeAgent(t, 0)
	rep := newDispatcher(t, tr, ag.URL).Run(t.Context())
	if rep.ClaimConflicts != 1 || len(ag.Executed()) != 0 {
		t.Errorf("report = %+v, executed %d", rep, len(ag.Executed()))
	}
}

func TestKillSwitchStopsBoth(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "suspend")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, ks := range map[string]dispatch.KillSwitch{"flag": {On: true}, "file": {File: file}} {
		t.Run(name, func(t *testing.T) {
			tr := newMemTracker(fixedNow)
			tr.add(dispatch.Issue{ID: "bd-1", Title: "a"})
			tr.add(dispatch.Issue{ID: "bd-2", Title: "b", Status: dispatch.StatusInProgress, Assignee: "agent:x-slot-1", UpdatedAt: t0.Add(-time.Hour)})
			ag := labtest.StartFakeAgent(t, 0)
			d := newDispatcher(t, tr, ag.URL)
			d.Kill = ks
			// Suspended, it still counts the queue: the backlog stays visible.
			if rep := d.Run(t.Context()); rep.Suspended == "" || len(ag.Executed()) != 0 || rep.Waiting != 1 {
				t.Errorf("dispatch report = %+v, want suspended with 1 waiting", rep)
			}
			r := &dispatch.Reaper{Tracker: tr, Kill: ks, StaleAfter: 30 * time.Minute, Now: fixedNow}
			if rep := r.Run(t.Context()); rep.Suspended == "" || len(rep.Reaped) != 0 {
				t.Errorf("reap report = %+v", rep)
			}
			if tr.get("bd-1").Status != dispatch.StatusOpen || tr.get("bd-2").Status != dispatch.StatusInProgress {
				t.Error("an issue changed while suspended")
			}
		})
	}
	if on, _ := (dispatch.KillSwitch{File: filepath.Join(t.TempDir(), "absent")}).Engaged(); on {
		t.Error("an absent kill file engaged the switch")
	}
}
