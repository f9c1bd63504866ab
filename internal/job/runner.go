package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runner's own metrics for one job. They carry no job
// label themselves: serve registers them through a registerer wrapped with
// job="<name>", and one-shot runs push them with the Pushgateway grouping
// key job="<name>", so both end up as labops_job_runs_total{job,result}.
type Metrics struct {
	runs        *prometheus.CounterVec
	duration    prometheus.Gauge
	lastSuccess *prometheus.GaugeVec
}

// NewMetrics registers the runner metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labops_job_runs_total",
			Help: "Runs of the job, by result (ok, failed, incomplete).",
		}, []string{"result"}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "labops_job_duration_seconds",
			Help: "Duration of the job's last run.",
		}),
		// A vector without labels gathers nothing until the first success,
		// so a pushed failure never overwrites the last success with 0.
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "labops_job_last_success_timestamp_seconds",
			Help: "Unix time at which the job last finished with result ok.",
		}, nil),
	}
	for _, c := range []prometheus.Collector{m.runs, m.duration, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering job metrics: %w", err)
		}
	}
	return m, nil
}

// Runner runs one job once: it applies the timeout, recovers a panic into
// an incomplete result, fills in timing, and records the metrics.
type Runner struct {
	Name    string
	Job     Job
	Timeout time.Duration
	Metrics *Metrics // may be nil
	Now     func() time.Time
}

// Run runs the job with log as its logger and returns its result.
func (r *Runner) Run(ctx context.Context, log *slog.Logger) (res Result) {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error("job panicked", "panic", p, "stack", string(debug.Stack()))
			res = Result{Status: StatusIncomplete, Error: fmt.Sprintf("job panicked: %v", p)}
		}
		res = finish(ctx, res, start, now())
		r.record(res)
	}()
	return r.Job.Run(ctx, log)
}

// finish normalises a result: a run cut off by its deadline or by shutdown
// is never ok (it could not see everything), though problems it found before
// the cut still make it failed; an unknown status is incomplete.
func finish(ctx context.Context, res Result, start, end time.Time) Result {
	res.Started = start
	res.Duration = end.Sub(start)
	switch res.Status {
	case StatusOK, StatusFailed, StatusIncomplete:
	default:
		res.Status = StatusIncomplete
		if res.Error == "" {
			res.Error = "job returned no status"
		}
	}
	if err := ctx.Err(); err != nil && res.Status == StatusOK {
		res.Status = StatusIncomplete
	}
	if err := ctx.Err(); err != nil && res.Error == "" {
		if errors.Is(err, context.DeadlineExceeded) {
			res.Error = "timed out"
		} else {
			res.Error = "cancelled"
		}
	}
	return res
}

func (r *Runner) record(res Result) {
	if r.Metrics == nil {
		return
	}
	r.Metrics.runs.WithLabelValues(string(res.Status)).Inc()
	r.Metrics.duration.Set(res.Duration.Seconds())
	if res.Status == StatusOK {
		r.Metrics.lastSuccess.WithLabelValues().Set(float64(res.Started.Add(res.Duration).UnixNano()) / 1e9)
	}
}
