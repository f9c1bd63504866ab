package oci_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/oci"
)

func TestMirrorKindValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want config.Problems
	}{
		{spec: `{}`, want: config.Problems{
			{Path: "source.registry", Msg: "required (e.g. registry.example.org, http://127.0.0.1:5000 or git.example.org/owner)"},
			{Path: "destination.registry", Msg: "required (e.g. registry.example.org, http://127.0.0.1:5000 or git.example.org/owner)"},
		}},
		{
			spec: `{"source":{"registry":"ftp://x","password_file":"/p"},"destination":{"registry":"h/Bad","username":"u"},
				"repos":["ok","[x"],"max_delete_share":0,"force":true,"concurrency":65,"rate":-1,"page_size":-1,"request_timeout":"soon"}`,
			want: config.Problems{
				{Path: "source.registry", Msg: `registry "ftp://x": scheme "ftp" is not http or https`},
				{Path: "source.username", Msg: "required with password_file"},
				{Path: "destination.registry", Msg: `registry "h/Bad": prefix "Bad" is not a repository name (lower case, digits, separators . _ - /)`},
				{Path: "destination.password_file", Msg: "required with username"},
				{Path: "repos[1]", Msg: `pattern "[x": syntax error in pattern`},
				{Path: "max_delete_share", Msg: "0 is out of range (more than 0, at most 1)"},
				{Path: "max_delete_share", Msg: "only with prune"},
				{Path: "force", Msg: "only with prune"},
				{Path: "concurrency", Msg: "65 is out of range (1 to 64; more than 16 gains nothing)"},
				{Path: "rate", Msg: "-1 is negative (requests per second; 0 means unlimited)"},
				{Path: "page_size", Msg: "-1 is negative"},
				{Path: "request_timeout", Msg: `"soon" is not a positive duration (e.g. 30s)`},
			},
		},
		{
			spec: `{"source":{"registry":"http://r:5000/a"},"destination":{"registry":"r:5000/a","plain_http":true}}`,
			want: config.Problems{{Path: "destination.registry", Msg: "is the source"}},
		},
	} {
		_, err := oci.MirrorKind().New(decoder(tc.spec), job.Deps{Registerer: prometheus.NewRegistry()})
		var got config.Problems
		if !errors.As(err, &got) {
			t.Fatalf("%s: error %v is not config.Problems", tc.spec, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.spec, diff)
		}
	}
	if _, err := oci.MirrorKind().New(decoder(`{"source":{"registry":"a"},"destination":{"registry":"b"},"bogus":1}`), job.Deps{}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: error %v, want it named", err)
	}
}

// TestMirrorJob runs the kind: a dry run sets differing to the planned
// copies; apply copies, and differing goes to 0.
func TestMirrorJob(t *testing.T) {
	t.Parallel()
	e := newMirrorEnv(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("unused\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := `{"source":{"registry":"` + e.sc.Registry().URL() + `"},"destination":{"registry":"` + e.dst.URL() + `","username":"u","password_file":"` + pwFile + `"},"concurrency":4`
	run := func(extra string) (job.Result, *prometheus.Registry) {
		t.Helper()
		reg := prometheus.NewRegistry()
		j, err := oci.MirrorKind().New(decoder(spec+extra+"}"), job.Deps{Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		return j.Run(t.Context(), slog.New(slog.DiscardHandler)), reg
	}
	gauges := func(copied, differing int) string {
		return `
# HELP labops_oci_mirror_tags_copied Tags the last mirror run copied and verified at the destination (0 on a dry run).
# TYPE labops_oci_mirror_tags_copied gauge
labops_oci_mirror_tags_copied ` + itoa(copied) + `
# HELP labops_oci_mirror_tags_differing Source tags whose destination differs after the last mirror run: planned copies on a dry run, failures after applying.
# TYPE labops_oci_mirror_tags_differing gauge
labops_oci_mirror_tags_differing ` + itoa(differing) + `
`
	}
	res, reg := run("")
	if res.Status != job.StatusOK || res.Counters["tags_to_copy"] != 9 {
		t.Fatalf("dry run: %s %q %v", res.Status, res.Error, res.Counters)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(gauges(0, 9)), "labops_oci_mirror_tags_copied", "labops_oci_mirror_tags_differing"); err != nil {
		t.Error(err)
	}
	res, reg = run(`,"apply":true`)
	if res.Status != job.StatusOK || res.Counters["tags_copied"] != 9 {
		t.Fatalf("apply: %s %q %v", res.Status, res.Error, res.Counters)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(gauges(9, 0)), "labops_oci_mirror_tags_copied", "labops_oci_mirror_tags_differing"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(mustGauge(t, reg, "labops_oci_mirror_bytes_moved")); got <= 0 {
		t.Errorf("bytes moved %v, want > 0", got)
	}
}

func FuzzParseMirrorEndpoint(f *testing.F) {
	for _, s := range []string{"localhost:5000", "http://127.0.0.1:5000/team/a", "https://h/", "h/v2/x", "h//x", "h/A", "::"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, plain bool) {
		e, err := oci.ParseMirrorEndpoint(s, plain)
		if err != nil {
			return
		}
		if e.Registry.Host == "" || (e.Prefix != "" && !oci.ValidRepo(e.Prefix)) {
			t.Fatalf("%q parsed to %+v", s, e)
		}
		again, err := oci.ParseMirrorEndpoint(e.Registry.URL()+"/"+e.Prefix, false)
		if err != nil || again != e {
			t.Fatalf("%q: %+v does not round-trip (%+v, %v)", s, e, again, err)
		}
	})
}
