package dispatch_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/dispatch"
)

func TestMetricsOfAPass(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := dispatch.NewMetrics(reg, false)
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveRun(&dispatch.RunReport{Waiting: 3, Dispatched: []dispatch.Dispatched{{Issue: "a"}}, ClaimConflicts: 2})
	want := `
# HELP labops_dispatch_agent_busy Whether the agent service had no free slot at the last dispatch pass (1) or not (0).
# TYPE labops_dispatch_agent_busy gauge
labops_dispatch_agent_busy 0
# HELP labops_dispatch_claim_conflicts Claims the last dispatch pass lost to another claimer.
# TYPE labops_dispatch_claim_conflicts gauge
labops_dispatch_claim_conflicts 2
# HELP labops_dispatch_dispatched Issues the last dispatch pass handed to the agent service.
# TYPE labops_dispatch_dispatched gauge
labops_dispatch_dispatched 1
# HELP labops_dispatch_failed Issues whose dispatch, undo or reaping failed in the last pass.
# TYPE labops_dispatch_failed gauge
labops_dispatch_failed 0
# HELP labops_dispatch_issues_waiting Queued issues left waiting after the last dispatch pass.
# TYPE labops_dispatch_issues_waiting gauge
labops_dispatch_issues_waiting 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// A suspended pass keeps the backlog visible.
	m.ObserveRun(&dispatch.RunReport{Suspended: "kill file", Waiting: 5})
	if got := testutil.ToFloat64(m.Waiting); got != 5 {
		t.Errorf("waiting after a suspended pass = %v, want 5", got)
	}
	// The reaper on the same registry reuses "failed" and adds "reaped".
	r, err := dispatch.NewMetrics(reg, true)
	if err != nil {
		t.Fatal(err)
	}
	r.ObserveReap(&dispatch.ReapReport{Reaped: []dispatch.Reaped{{Issue: "x", Minutes: 31}}})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP labops_dispatch_reaped Stale issues the last reaper pass blocked.
# TYPE labops_dispatch_reaped gauge
labops_dispatch_reaped 1
`), "labops_dispatch_reaped"); err != nil {
		t.Error(err)
	}
}

func TestKindsBuildFromTheSpec(t *testing.T) {
	t.Parallel()
	decode := func(s dispatch.Spec) func(any) error {
		return func(v any) error { *(v.(*dispatch.Spec)) = s; return nil }
	}
	ok := dispatch.Spec{Workspace: "/w", Agent: dispatch.AgentSpec{URL: "http://127.0.0.1:1"}}
	if _, err := dispatch.Kind().New(decode(ok), jobDeps()); err != nil {
		t.Errorf("dispatch: %v", err)
	}
	if _, err := dispatch.ReapKind().New(decode(dispatch.Spec{Workspace: "/w"}), jobDeps()); err != nil {
		t.Errorf("dispatch-reap without an agent: %v", err)
	}
	bad := dispatch.Spec{StaleAfter: "soon"}
	_, err := dispatch.ReapKind().New(decode(bad), jobDeps())
	if err == nil || !strings.Contains(err.Error(), "workspace") || !strings.Contains(err.Error(), "stale_after") {
		t.Errorf("bad spec: %v", err)
	}
}
