package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labops/labops/internal/labtest"
)

// TestDispatchKillSwitch: the kill file stops both commands before they
// touch the tracker or the agent (neither exists here).
func TestDispatchKillSwitch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kill := filepath.Join(dir, "suspend")
	ag := labtest.StartFakeAgent(t, 0)
	_, cfg := writeConfig(t, fmt.Sprintf(`jobs:
  - name: agent-dispatch
    kind: dispatch
    schedule: "*/2 * * * *"
    spec: {workspace: %[1]s/nowhere, bd: %[1]s/no-bd, kill_file: %[2]s, agent: {url: %[3]s}}
  - name: agent-reap
    kind: dispatch-reap
    schedule: "*/10 * * * *"
    spec: {workspace: %[1]s/nowhere, bd: %[1]s/no-bd, kill_file: %[2]s}
`, dir, kill, ag.URL))
	ctx := t.Context()
	if err := os.WriteFile(kill, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"run", "reap"} {
		code, out, errOut := run(t, ctx, dir, nil, "dispatch", verb, "--config", cfg)
		if code != ExitOK || !strings.Contains(out, "suspended: kill switch file") {
			t.Errorf("dispatch %s with the kill file: exit %d\nstdout:\n%s\nstderr:\n%s", verb, code, out, errOut)
		}
	}
	if err := os.Remove(kill); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"run", "reap"} {
		code, out, errOut := run(t, ctx, dir, nil, "dispatch", verb, "--config", cfg, "--suspend")
		if code != ExitOK || !strings.Contains(out, "suspended: suspended in the config") {
			t.Errorf("dispatch %s --suspend: exit %d\nstdout:\n%s\nstderr:\n%s", verb, code, out, errOut)
		}
	}
	// Without the switch the missing bd makes the pass incomplete.
	if code, out, _ := run(t, ctx, dir, nil, "dispatch", "reap", "--config", cfg); code != ExitIncomplete {
		t.Errorf("dispatch reap without bd: exit %d, want 3\n%s", code, out)
	}
	if len(ag.Executed()) != 0 {
		t.Errorf("the agent received %d tasks", len(ag.Executed()))
	}
}

func TestDispatchSpecProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, cfg := writeConfig(t, `jobs:
  - name: d
    kind: dispatch
    schedule: "@hourly"
    spec: {agent: {url: "ftp://x"}, prompt: "{{.Nope"}
`)
	code, _, errOut := run(t, t.Context(), dir, nil, "dispatch", "run", "--config", cfg)
	for _, want := range []string{"workspace", "agent.url", "prompt"} {
		if code != ExitUsage || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, want 2 naming %s; stderr:\n%s", code, want, errOut)
		}
	}
}

// TestDispatchAgainstBd: the commands end to end on a real bd workspace.
func TestDispatchAgainstBd(t *testing.T) {
	t.Parallel()
	w := labtest.StartBdWorkspace(t)
	id := w.Create("fix the thing", "--labels", "agent")
	ag := labtest.StartFakeAgent(t, 0)
	dir := t.TempDir()
	_, cfg := writeConfig(t, fmt.Sprintf(`jobs:
  - name: agent-dispatch
    kind: dispatch
    schedule: "*/2 * * * *"
    spec: {workspace: %[1]s, bd: %[2]s, agent: {url: %[3]s}, prompt: "do {{.ID}}: {{.Title}}"}
  - name: agent-reap
    kind: dispatch-reap
    schedule: "*/10 * * * *"
    spec: {workspace: %[1]s, bd: %[2]s}
`, w.Dir, w.Bin, ag.URL))
	ctx := t.Context()
	code, out, errOut := run(t, ctx, dir, nil, "dispatch", "run", "--config", cfg)
	if code != ExitOK || !strings.Contains(out, "dispatched "+id) || !strings.Contains(out, "job=job-1") {
		t.Fatalf("dispatch run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if ex := ag.Executed(); len(ex) != 1 || ex[0].Prompt != "do "+id+": fix the thing" {
		t.Errorf("agent received %+v", ex)
	}
	// Just dispatched: nothing is stale.
	code, out, errOut = run(t, ctx, dir, nil, "dispatch", "reap", "--config", cfg, "--json")
	if code != ExitOK || strings.Contains(out, `"reaped"`) {
		t.Errorf("dispatch reap: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := w.Comments(id); len(got) != 1 || got[0] != "dispatched: job=job-1" {
		t.Errorf("comments %q", got)
	}
}
