package oci_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

func TestArchiveKindValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want config.Problems
	}{
		{spec: `{}`, want: config.Problems{
			{Path: "registry", Msg: "required (e.g. registry.example.org or http://127.0.0.1:5000)"},
			{Path: "image", Msg: "required: repository:tag, e.g. ci/builder:main"},
			{Path: "dir", Msg: "required: the directory the archives are kept in"},
		}},
		{
			spec: `{"registry":"ftp://x","password_file":"/p","image":"Ci/Builder","dir":"/srv","keep":0}`,
			want: config.Problems{
				{Path: "registry", Msg: `registry "ftp://x": scheme "ftp" is not http or https`},
				{Path: "username", Msg: "required with password_file"},
				{Path: "image", Msg: `"Ci/Builder": want repository:tag`},
				{Path: "keep", Msg: "0: keep at least 1 archive"},
			},
		},
		{
			spec: `{"registry":"r.example.org","image":"app:bad tag","dir":"/srv"}`,
			want: config.Problems{{Path: "image", Msg: `"app:bad tag": "bad tag" is not a tag`}},
		},
		{
			spec: `{"registry":"r.example.org","image":"r.example.org:5000/app:1","dir":"/srv"}`,
			want: config.Problems{{Path: "image", Msg: `"r.example.org:5000/app:1": "r.example.org:5000/app" is not a repository name`}},
		},
	} {
		_, err := oci.ArchiveKind().New(decoder(tc.spec), job.Deps{Registerer: prometheus.NewRegistry()})
		var got config.Problems
		if !errors.As(err, &got) {
			t.Fatalf("%s: error %v is not config.Problems", tc.spec, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.spec, diff)
		}
	}
	if _, err := oci.ArchiveKind().New(decoder(`{"registry":"x","image":"a:b","dir":"/d","bogus":1}`), job.Deps{}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: error %v, want it named", err)
	}
}

// The job archives, prunes and sets its gauges; a failed run leaves them
// as the last good run set them.
func TestArchiveJobMetrics(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	pushImage(t, p, "ci/builder", "main", image("builder", "debian", 2, nil))
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	now := clock(time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC))
	spec := `{"registry":"` + r.URL() + `","image":"ci/builder:main","dir":"` + dir + `","keep":2}`
	j, err := oci.ArchiveKind().New(decoder(spec), job.Deps{Registerer: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if n := testutil.CollectAndCount(reg); n != 0 {
		t.Errorf("%d series before the first good archive, want none", n)
	}
	var res job.Result
	for range 3 {
		if res = j.Run(t.Context(), log); res.Status != job.StatusOK {
			t.Fatalf("run: %s: %s", res.Status, res.Error)
		}
	}
	if res.Counters["archives"] != 2 || res.Counters["pruned"] != 1 {
		t.Errorf("counters %v: want 2 archives, 1 pruned", res.Counters)
	}
	latest, err := os.Stat(filepath.Join(dir, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	good := res
	check := func(when string) {
		t.Helper()
		for name, want := range map[string]float64{
			"labops_oci_archive_count":                          2,
			"labops_oci_archive_size_bytes":                     float64(latest.Size()),
			"labops_oci_archive_last_success_timestamp_seconds": float64(good.Started.Add(good.Duration).Unix()),
		} {
			if got := testutil.ToFloat64(mustGauge(t, reg, name)); got != want {
				t.Errorf("%s: %s = %v, want %v", when, name, got, want)
			}
		}
	}
	check("after three good runs")
	// The repository disappears: the run fails, the gauges stay.
	if err := os.RemoveAll(filepath.Join(r.Root(), "docker/registry/v2/repositories/ci")); err != nil {
		t.Fatal(err)
	}
	if res := j.Run(t.Context(), log); res.Status != job.StatusFailed || len(res.Findings) != 1 {
		t.Errorf("run against a missing image: %s %v (%s)", res.Status, res.Findings, res.Error)
	}
	check("after a failed run")
}
