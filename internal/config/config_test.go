package config_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// fakeSpec is a kind's spec for these tests: one required field.
type fakeSpec struct {
	Target string `yaml:"target"`
	Count  int    `yaml:"count"`
}

var fakeKinds = map[string]job.Kind{
	"fake": {
		Name: "fake",
		New: func(decode func(any) error, deps job.Deps) (job.Job, error) {
			var s fakeSpec
			if err := decode(&s); err != nil {
				return nil, err
			}
			var ps config.Problems
			if s.Target == "" {
				ps.Add("target", "required")
			}
			if s.Count < 0 {
				ps.Add("count", "%d is negative", s.Count)
			}
			if err := ps.Err(); err != nil {
				return nil, err
			}
			return job.Func(func(context.Context, *slog.Logger) job.Result { return job.Result{Status: job.StatusOK} }), nil
		},
	},
}

func noEnv(string) string { return "" }

func TestValidConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TARGET": "https://registry.example"}
	f, err := config.Load("testdata/valid.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(fakeKinds); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if diff := cmp.Diff([]string{"probe", "manual"}, f.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	j, _ := f.Find("probe")
	if j.Timeout != 90*time.Second {
		t.Errorf("timeout = %s, want 1m30s", j.Timeout)
	}
	m, _ := f.Find("manual")
	if m.Timeout != config.DefaultTimeout {
		t.Errorf("default timeout = %s, want %s", m.Timeout, config.DefaultTimeout)
	}
	var s fakeSpec
	if err := config.DecodeSpec(&j.Spec, &s); err != nil {
		t.Fatal(err)
	}
	if s.Target != "https://registry.example" {
		t.Errorf("${TARGET} expanded to %q", s.Target)
	}
	if sched, err := m.ParseSchedule(); err != nil || sched != nil {
		t.Errorf("empty schedule = %v, %v; want nil, nil (manual only)", sched, err)
	}
}

// Each testdata/invalid-*.yaml has its exact expected problems in the
// matching .err file, one per line, all reported at once.
func TestInvalidConfigs(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			wantB, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			f, err := config.Load(file, noEnv)
			if err == nil {
				err = f.Validate(fakeKinds)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(strings.TrimSpace(string(wantB)), err.Error()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	t.Parallel()
	f, err := config.Parse(nil, noEnv)
	if err != nil || len(f.Jobs) != 0 {
		t.Fatalf("Parse(empty) = %+v, %v", f, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"jobs: []", "jobs:\n- name: a\n  kind: fake\n  spec: {target: x}", "push: {pushgateway: {url: ${X}}}", "{", "- 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, noEnv)
		if err == nil {
			_ = c.Validate(fakeKinds)
		}
	})
}
