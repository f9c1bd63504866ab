package job_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/job"
)

type fakeJob struct{ target string }

func (f *fakeJob) Run(context.Context, *slog.Logger) job.Result {
	return job.Result{Status: job.StatusOK}
}

func TestNewKindDecodesAndBuilds(t *testing.T) {
	t.Parallel()
	type spec struct{ Target string }
	errBad := errors.New("target: required")
	k := job.NewKind("fake", "a fake", func(s spec, _ job.Deps) (*fakeJob, error) {
		if s.Target == "" {
			return nil, errBad
		}
		return &fakeJob{target: s.Target}, nil
	})
	decodeTo := func(target string) func(any) error {
		return func(v any) error { v.(*spec).Target = target; return nil }
	}
	j, err := k.New(decodeTo("x"), job.Deps{})
	if err != nil || j.(*fakeJob).target != "x" {
		t.Fatalf("New = %v, %v; want the built job", j, err)
	}
	// A failed build must give a nil Job, not a typed nil pointer in one.
	j, err = k.New(decodeTo(""), job.Deps{})
	if !errors.Is(err, errBad) || j != nil {
		t.Errorf("New with a bad spec = %#v, %v; want nil, the error", j, err)
	}
	errDecode := errors.New("unknown field")
	if j, err := k.New(func(any) error { return errDecode }, job.Deps{}); !errors.Is(err, errDecode) || j != nil {
		t.Errorf("New with a decode error = %#v, %v", j, err)
	}
}

type checkedSpec struct{ Target string }

func (s checkedSpec) Validate() error {
	if s.Target == "" {
		return errors.New("target: required")
	}
	return nil
}

func TestNewCheckedKindValidatesAndRegisters(t *testing.T) {
	t.Parallel()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fake_gauge", Help: "x"})
	newMetrics := func(reg prometheus.Registerer) (prometheus.Gauge, error) { return g, reg.Register(g) }
	k := job.NewCheckedKind("fake", "a fake", newMetrics, func(s checkedSpec, m prometheus.Gauge, _ job.Deps) (*fakeJob, error) {
		if m != g {
			t.Error("build did not get the metrics")
		}
		return &fakeJob{target: s.Target}, nil
	})
	decodeTo := func(target string) func(any) error {
		return func(v any) error { v.(*checkedSpec).Target = target; return nil }
	}
	if j, err := k.New(decodeTo(""), job.Deps{Registerer: prometheus.NewRegistry()}); err == nil || j != nil {
		t.Errorf("an invalid spec built %#v, %v", j, err)
	}
	reg := prometheus.NewRegistry()
	if j, err := k.New(decodeTo("x"), job.Deps{Registerer: reg}); err != nil || j.(*fakeJob).target != "x" {
		t.Fatalf("New = %v, %v", j, err)
	}
	if n, _ := reg.Gather(); len(n) != 1 {
		t.Errorf("New registered %d metric families, want 1", len(n))
	}
	if err := k.Metrics(prometheus.NewRegistry()); err != nil {
		t.Errorf("Metrics: %v", err)
	}
}
