package labtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// BdVersion is the beads release scripts/test-deps builds.
const BdVersion = "1.0.5"

// NeedBd returns the bd binary: LABOPS_BD, the cache path scripts/test-deps
// builds, or bd on PATH; else it skips the test (fails it under CI=true).
func NeedBd(t testing.TB) string {
	t.Helper()
	return NeedCached(t, "LABOPS_BD", "bd-"+BdVersion, "bd", "beads "+BdVersion)
}

// BdWorkspace is a throwaway beads workspace: a local git repository with
// an embedded-Dolt .beads, no hooks, no remote.
type BdWorkspace struct {
	Bin string
	Dir string
	t   testing.TB
}

// StartBdWorkspace makes a workspace in a temp dir with issue prefix "t".
func StartBdWorkspace(t testing.TB) *BdWorkspace {
	t.Helper()
	w := &BdWorkspace{Bin: NeedBd(t), Dir: t.TempDir(), t: t}
	if out, err := exec.Command("git", "-C", w.Dir, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	w.Run("init", "--non-interactive", "--quiet", "--skip-hooks", "--skip-agents", "--prefix", "t")
	return w
}

// Run runs bd in the workspace and returns its stdout; a failure fails
// the test.
func (w *BdWorkspace) Run(args ...string) []byte {
	w.t.Helper()
	cmd := exec.Command(w.Bin, args...)
	cmd.Dir = w.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		w.t.Fatalf("bd %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// Create adds an issue and returns its id.
func (w *BdWorkspace) Create(title string, args ...string) string {
	w.t.Helper()
	out := w.Run(append([]string{"create", title, "--json"}, args...)...)
	var is struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &is); err != nil || is.ID == "" {
		w.t.Fatalf("bd create: reply %q: %v", out, err)
	}
	return is.ID
}

// Comments returns the texts of an issue's comments, oldest first.
func (w *BdWorkspace) Comments(id string) []string {
	w.t.Helper()
	out := w.Run("comments", id, "--json")
	var cs []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &cs); err != nil && len(bytes.TrimSpace(out)) > 0 && string(bytes.TrimSpace(out)) != "null" {
		w.t.Fatalf("bd comments %s: reply %q: %v", id, out, err)
	}
	texts := make([]string, 0, len(cs))
	for _, c := range cs {
		texts = append(texts, c.Text)
	}
	return texts
}
