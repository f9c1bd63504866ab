package kubernetes_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/labops/labops/internal/cli"
	"github.com/labops/labops/internal/kinds"
)

// TestConfigHasEveryKind: the example config shows a job of every kind
// labops has. A kind registered in internal/kinds (secret-sync, once it
// lands) fails this until labops.yaml has a job of it, and TestCronJobs
// until that job has its CronJob.
func TestConfigHasEveryKind(t *testing.T) {
	t.Parallel()
	_, file := configMapOf(t, build(t, "cronjobs"))
	f := loadConfig(t, "labops.yaml", file, map[string]string{"POD_NAMESPACE": "labops"})
	have := map[string]bool{}
	for _, j := range f.Jobs {
		have[j.Kind] = true
	}
	for kind := range kinds.All() {
		if !have[kind] {
			t.Errorf("labops.yaml has no job of kind %s: add one (and its CronJob and Secrets)", kind)
		}
	}
}

// TestConfigCheck runs the real `labops config check` on labops.yaml, with
// the environment the manifests set.
func TestConfigCheck(t *testing.T) {
	_, file := configMapOf(t, build(t, "cronjobs"))
	t.Setenv("POD_NAMESPACE", "labops")
	var stdout, stderr bytes.Buffer
	args := []string{"config", "check", "--config", file}
	if code := cli.Execute(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("labops %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
}
