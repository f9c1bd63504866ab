package kubernetes_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/labops/labops/internal/cli"
	"github.com/labops/labops/internal/config"
)

// reportMargin is the least time a CronJob's pod must have beyond its
// job's timeout: labops stops the job at the timeout and must still push
// the incomplete result before Kubernetes kills the pod.
const reportMargin = time.Minute

// TestCronJobs checks each CronJob against labops.yaml and the command
// line, and that every configured job has exactly one CronJob.
func TestCronJobs(t *testing.T) {
	t.Parallel()
	objs := build(t, "cronjobs")
	cm, file := configMapOf(t, objs)
	perJob := map[string][]string{}
	for _, cj := range ofKind[*batchv1.CronJob](objs) {
		where := "CronJob " + cj.Name
		j := checkCronJob(t, where, cj, cm, file)
		if j == nil {
			continue
		}
		perJob[j.Name] = append(perJob[j.Name], cj.Name)
		if want := "labops-" + j.Name; cj.Name != want {
			t.Errorf("%s runs job %s: name it %s", where, j.Name, want)
		}
	}
	f := loadConfig(t, "labops.yaml", file, map[string]string{"POD_NAMESPACE": "labops"})
	for _, name := range f.Names() {
		if n := len(perJob[name]); n != 1 {
			t.Errorf("job %s of labops.yaml has %d CronJobs %v, want exactly 1 (add cronjob-%s.yaml to cronjobs/kustomization.yaml)", name, n, perJob[name], name)
		}
	}
}

// checkCronJob checks one CronJob and returns the job it runs (nil when it
// names none that labops.yaml has).
func checkCronJob(t *testing.T, where string, cj *batchv1.CronJob, cm *corev1.ConfigMap, file string) *config.Job {
	t.Helper()
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("%s: concurrencyPolicy %q, want Forbid: two runs of one job at once race on its targets", where, s.ConcurrencyPolicy)
	}
	if len(strings.Fields(s.Schedule)) != 5 {
		t.Errorf("%s: schedule %q, want 5 fields (minute hour day-of-month month day-of-week)", where, s.Schedule)
	} else if _, err := config.CronParser.Parse(s.Schedule); err != nil {
		t.Errorf("%s: schedule %q: %v", where, s.Schedule, err)
	}
	if s.TimeZone == nil {
		t.Errorf("%s: no timeZone: the schedule would follow the controller's zone", where)
	}
	if s.StartingDeadlineSeconds == nil || *s.StartingDeadlineSeconds < 10 {
		t.Errorf("%s: startingDeadlineSeconds %s, want at least 10 (the controller looks every 10s)", where, show(s.StartingDeadlineSeconds))
	}
	if s.SuccessfulJobsHistoryLimit == nil || s.FailedJobsHistoryLimit == nil || *s.FailedJobsHistoryLimit < 1 {
		t.Errorf("%s: want successfulJobsHistoryLimit and failedJobsHistoryLimit (at least 1: keep a failed run to look at)", where)
	}
	js := s.JobTemplate.Spec
	if js.BackoffLimit == nil || *js.BackoffLimit > 1 {
		t.Errorf("%s: backoffLimit %s, want 0 or 1: a retried check hides the failure it found", where, show(js.BackoffLimit))
	}
	pod := js.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy %q, want Never: a restarted container is a hidden retry", where, pod.RestartPolicy)
	}

	c := labopsContainer(t, where, pod)
	args := labopsArgs(t, where, c)
	if err := cli.CheckArgs(args); err != nil {
		t.Errorf("%s: %v", where, err)
	}
	var names []string
	for i := 1; i < len(args); i++ {
		switch {
		case args[i] == "--config" || args[i] == "--log-level" || args[i] == "--log-format":
			i++
		case !strings.HasPrefix(args[i], "-"):
			names = append(names, args[i])
		}
	}
	if len(args) == 0 || args[0] != "run" || len(names) != 1 || flagValue(args, "config") != configPath {
		t.Errorf("%s: labops %s, want labops run JOB --config %s (one job per CronJob)", where, strings.Join(args, " "), configPath)
		return nil
	}
	f := checkPod(t, where, pod, cm, file, names)
	j, ok := f.Find(names[0])
	if !ok {
		return nil
	}
	if s.Schedule != j.Schedule {
		t.Errorf("%s: schedule %q, but job %s in labops.yaml has %q", where, s.Schedule, j.Name, j.Schedule)
	}
	if d := js.ActiveDeadlineSeconds; d == nil || time.Duration(*d)*time.Second < j.Timeout+reportMargin {
		t.Errorf("%s: activeDeadlineSeconds %s, want at least the job's timeout (%s) plus %s, so that labops times out and reports first", where, show(d), j.Timeout, reportMargin)
	}
	return j
}

// show prints an optional number of a manifest.
func show[N int32 | int64](p *N) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
