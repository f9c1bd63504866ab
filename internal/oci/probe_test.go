package oci_test

import (
	"bytes"
	"encoding/json"
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
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// decoder decodes a JSON spec strictly, as the config's decode func does.
func decoder(spec string) func(any) error {
	return func(v any) error {
		dec := json.NewDecoder(strings.NewReader(spec))
		dec.DisallowUnknownFields()
		return dec.Decode(v)
	}
}

func TestProbeKindValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want config.Problems
	}{
		{spec: `{}`, want: config.Problems{{Path: "registry", Msg: "required (e.g. registry.example.org or http://127.0.0.1:5000)"}}},
		{
			spec: `{"registry":"ftp://x","depth":"layers","concurrency":-1,"rate":-2,"password_file":"/p","request_timeout":"soon","repos":["ok","Not OK"]}`,
			want: config.Problems{
				{Path: "registry", Msg: `registry "ftp://x": scheme "ftp" is not http or https`},
				{Path: "repos[1]", Msg: `"Not OK" is not a repository name`},
				{Path: "depth", Msg: `"layers" is not a depth (valid: blobs, manifests)`},
				{Path: "concurrency", Msg: "-1 is out of range (1 to 64; more than 16 gains nothing)"},
				{Path: "rate", Msg: "-2 is negative (requests per second; 0 means unlimited)"},
				{Path: "username", Msg: "required with password_file"},
				{Path: "request_timeout", Msg: `"soon" is not a positive duration (e.g. 30s)`},
			},
		},
	} {
		_, err := oci.ProbeKind().New(decoder(tc.spec), job.Deps{Registerer: prometheus.NewRegistry()})
		var got config.Problems
		if !errors.As(err, &got) {
			t.Fatalf("%s: error %v is not config.Problems", tc.spec, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.spec, diff)
		}
	}
	if _, err := oci.ProbeKind().New(decoder(`{"registry":"x","bogus":1}`), job.Deps{}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: error %v, want it named", err)
	}
}

func TestProbeRun(t *testing.T) {
	t.Parallel()
	htpasswd := labtest.Need(t, "htpasswd", "apache2-utils")
	dir := t.TempDir()
	out, err := runCmd(htpasswd, "-Bbn", "probe", "pr0be-secret")
	if err != nil {
		t.Fatal(err)
	}
	hf, pf := filepath.Join(dir, "htpasswd"), filepath.Join(dir, "password")
	os.WriteFile(hf, out, 0o600)
	os.WriteFile(pf, []byte("pr0be-secret\n"), 0o600)
	r := labtest.StartRegistry(t, labtest.RegistryOptions{Htpasswd: hf})
	creds := oci.Credentials{Username: "probe", Password: "pr0be-secret"}
	p := oci.NewPusher(client(t, r.Host(), oci.Options{Credentials: creds}))
	pushImage(t, p, "app", "v1", image("app:v1", "debian", 2, nil))
	idx, children := pushMulti(t, p, "app", "multi", false, false)
	r.Stop()
	r.GarbageCollect(t, "--delete-untagged")
	r.Start()

	reg := prometheus.NewRegistry()
	spec := `{"registry":"` + r.URL() + `","username":"probe","password_file":"` + pf + `","request_timeout":"5s"}`
	pj, err := oci.ProbeKind().New(decoder(spec), job.Deps{Name: "registry", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	res := pj.Run(t.Context(), slog.New(slog.NewTextHandler(&logs, nil)))
	if res.Status != job.StatusFailed {
		t.Fatalf("status %s, error %q", res.Status, res.Error)
	}
	var want []job.Finding
	for _, c := range children {
		want = append(want, job.Finding{Kind: "missing-child-manifest", Subject: "app:multi",
			Message: "child-manifest " + c.Digest + " (" + c.Platform.String() + "): missing (HTTP 404): not found (MANIFEST_UNKNOWN)"})
	}
	if diff := cmp.Diff(want, res.Findings, sortFindings); diff != "" {
		t.Errorf("findings for index %s (-want +got):\n%s", idx.Digest, diff)
	}
	if strings.Contains(logs.String(), "pr0be-secret") {
		t.Errorf("the password reached the log:\n%s", logs.String())
	}
	// The probe's gauges, without a job label (serve adds it).
	const metrics = `
# HELP labops_oci_broken_images Images found broken by the last check.
# TYPE labops_oci_broken_images gauge
labops_oci_broken_images 1
# HELP labops_oci_catalog_up Whether the registry answered the listing the last check started from (1) or not (0).
# TYPE labops_oci_catalog_up gauge
labops_oci_catalog_up 1
# HELP labops_oci_repositories Repositories walked by the last check.
# TYPE labops_oci_repositories gauge
labops_oci_repositories 1
# HELP labops_oci_tags_checked Tags checked by the last check.
# TYPE labops_oci_tags_checked gauge
labops_oci_tags_checked 2
# HELP labops_oci_manifests_checked Distinct manifests checked by the last check.
# TYPE labops_oci_manifests_checked gauge
labops_oci_manifests_checked 4
# HELP labops_oci_blobs_checked Distinct blobs checked by the last check.
# TYPE labops_oci_blobs_checked gauge
labops_oci_blobs_checked 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(metrics),
		"labops_oci_broken_images", "labops_oci_catalog_up", "labops_oci_repositories",
		"labops_oci_tags_checked", "labops_oci_manifests_checked", "labops_oci_blobs_checked"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "labops_oci_requests", "labops_oci_probe_duration_seconds"); err != nil || n != 2 {
		t.Errorf("requests and duration gauges: %d series, %v", n, err)
	}
	// Building the kind again on the same registerer (a config reload) works.
	if _, err := oci.ProbeKind().New(decoder(spec), job.Deps{Registerer: reg}); err != nil {
		t.Errorf("second New on one registerer: %v", err)
	}
	// An unreachable registry: incomplete and catalog down, never ok.
	down := `{"registry":"http://127.0.0.1:` + itoa(labtest.FreePort(t)) + `","request_timeout":"2s"}`
	reg2 := prometheus.NewRegistry()
	pj2, err := oci.ProbeKind().New(decoder(down), job.Deps{Registerer: reg2})
	if err != nil {
		t.Fatal(err)
	}
	if res := pj2.Run(t.Context(), slog.New(slog.DiscardHandler)); res.Status != job.StatusIncomplete || res.Error == "" {
		t.Errorf("unreachable: status %s, error %q", res.Status, res.Error)
	}
	if got := testutil.ToFloat64(mustGauge(t, reg2, "labops_oci_catalog_up")); got != 0 {
		t.Errorf("labops_oci_catalog_up = %v, want 0", got)
	}
}
