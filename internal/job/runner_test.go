package job_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/job"
)

func newRunner(t *testing.T, reg *prometheus.Registry, timeout time.Duration, f job.Func) *job.Runner {
	t.Helper()
	m, err := job.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_700_000_000, 0)
	return &job.Runner{Name: "j", Job: f, Timeout: timeout, Metrics: m, Now: func() time.Time {
		clock = clock.Add(2 * time.Second)
		return clock
	}}
}

func TestRunnerRecordsMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	st := job.StatusOK
	r := newRunner(t, reg, 0, func(context.Context, *slog.Logger) job.Result { return job.Result{Status: st} })
	r.Run(t.Context(), slog.New(slog.DiscardHandler))
	st = job.StatusFailed
	res := r.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Duration != 2*time.Second {
		t.Errorf("duration = %s, want 2s", res.Duration)
	}
	want := `
# HELP labops_job_duration_seconds Duration of the job's last run.
# TYPE labops_job_duration_seconds gauge
labops_job_duration_seconds 2
# HELP labops_job_last_success_timestamp_seconds Unix time at which the job last finished with result ok.
# TYPE labops_job_last_success_timestamp_seconds gauge
labops_job_last_success_timestamp_seconds 1.700000004e+09
# HELP labops_job_runs_total Runs of the job, by result (ok, failed, incomplete).
# TYPE labops_job_runs_total counter
labops_job_runs_total{result="failed"} 1
labops_job_runs_total{result="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestRunnerNoSuccessNoTimestamp(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	r := newRunner(t, reg, 0, func(context.Context, *slog.Logger) job.Result { return job.Result{Status: job.StatusFailed} })
	r.Run(t.Context(), slog.New(slog.DiscardHandler))
	if n := testutil.CollectAndCount(reg, "labops_job_last_success_timestamp_seconds"); n != 0 {
		t.Errorf("a job that never succeeded exposes %d last-success series, want 0", n)
	}
}

func TestRunnerRecoversPanic(t *testing.T) {
	t.Parallel()
	r := newRunner(t, prometheus.NewRegistry(), 0, func(context.Context, *slog.Logger) job.Result { panic("boom") })
	res := r.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Status != job.StatusIncomplete || !strings.Contains(res.Error, "boom") {
		t.Errorf("got %+v, want incomplete mentioning the panic", res)
	}
}

func TestRunnerTimeoutIsNeverOK(t *testing.T) {
	t.Parallel()
	r := newRunner(t, prometheus.NewRegistry(), time.Millisecond, func(ctx context.Context, _ *slog.Logger) job.Result {
		<-ctx.Done()
		return job.Result{Status: job.StatusOK} // a careless job claiming success
	})
	res := r.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Status != job.StatusIncomplete || res.Error != "timed out" {
		t.Errorf("got %s %q, want incomplete \"timed out\"", res.Status, res.Error)
	}
}

func TestRunnerUnknownStatus(t *testing.T) {
	t.Parallel()
	r := newRunner(t, prometheus.NewRegistry(), 0, func(context.Context, *slog.Logger) job.Result { return job.Result{} })
	if res := r.Run(t.Context(), slog.New(slog.DiscardHandler)); res.Status != job.StatusIncomplete {
		t.Errorf("empty result = %s, want incomplete", res.Status)
	}
}

func TestExitCodeAndWorst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b job.Status
		want int
	}{
		{job.StatusOK, job.StatusOK, 0},
		{job.StatusOK, job.StatusFailed, 1},
		{job.StatusFailed, job.StatusIncomplete, 3},
		{job.StatusIncomplete, job.StatusOK, 3},
	} {
		if got := job.ExitCode(job.Worst(tc.a, tc.b)); got != tc.want {
			t.Errorf("ExitCode(Worst(%s, %s)) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
