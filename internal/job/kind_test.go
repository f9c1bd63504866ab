package job_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

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
