package oci_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/oci"
)

func TestRetentionKindValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want config.Problems
	}{
		{spec: `{}`, want: config.Problems{
			{Path: "registry", Msg: "required, or forgejo (e.g. registry.example.org or http://127.0.0.1:5000)"},
			{Path: "keep", Msg: "required: how many of the newest tags to keep"},
		}},
		{
			spec: `{"registry":"ftp://x","owner":"o","password_file":"/p","repos":["ok","[x"],"keep":-1,
				"keep_tags":["latest",""],"keep_younger_than":"soon",
				"rules":[{"keep":1},{"repos":["a/*"],"keep_younger_than":"-3d"}],
				"max_delete_share":1.5,"depth":"manifests","verify_digests":true,"concurrency":99,"rate":-1,"page_size":-2,"request_timeout":"0s"}`,
			want: config.Problems{
				{Path: "registry", Msg: `registry "ftp://x": scheme "ftp" is not http or https`},
				{Path: "owner", Msg: "only with forgejo"},
				{Path: "username", Msg: "required with password_file"},
				{Path: "repos[1]", Msg: `pattern "[x": syntax error in pattern`},
				{Path: "keep", Msg: "-1 is negative"},
				{Path: "keep_tags[1]", Msg: "empty pattern"},
				{Path: "keep_younger_than", Msg: `"soon" is not a positive age (e.g. 30d or 72h)`},
				{Path: "rules[0].repos", Msg: "required: the repository patterns the rule is for"},
				{Path: "rules[1].keep", Msg: "required: how many of the newest tags to keep"},
				{Path: "rules[1].keep_younger_than", Msg: `"-3d" is not a positive age (e.g. 30d or 72h)`},
				{Path: "max_delete_share", Msg: "1.5 is out of range (more than 0, at most 1)"},
				{Path: "verify_digests", Msg: "needs depth blobs"},
				{Path: "concurrency", Msg: "99 is out of range (1 to 64; more than 16 gains nothing)"},
				{Path: "rate", Msg: "-1 is negative (requests per second; 0 means unlimited)"},
				{Path: "page_size", Msg: "-2 is negative"},
				{Path: "request_timeout", Msg: `"0s" is not a positive duration (e.g. 30s)`},
			},
		},
		{
			spec: `{"forgejo":"http://127.0.0.1:3000","registry":"x","keep":1}`,
			want: config.Problems{{Path: "forgejo", Msg: "give registry or forgejo, not both"}},
		},
		{
			spec: `{"forgejo":"http://127.0.0.1:3000","username":"u","keep":1}`,
			want: config.Problems{
				{Path: "owner", Msg: "required with forgejo: the user or organization whose packages to clean"},
				{Path: "token_file", Msg: "required with forgejo: a file holding an access token with package read and write scopes"},
				{Path: "username", Msg: "not with forgejo: the token is the credential"},
			},
		},
	} {
		_, err := oci.RetentionKind().New(decoder(tc.spec), job.Deps{Registerer: prometheus.NewRegistry()})
		var got config.Problems
		if !errors.As(err, &got) {
			t.Fatalf("%s: error %v is not config.Problems", tc.spec, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.spec, diff)
		}
	}
	if _, err := oci.RetentionKind().New(decoder(`{"registry":"x","keep":1,"bogus":1}`), job.Deps{}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: error %v, want it named", err)
	}
	if _, err := oci.RetentionKind().New(decoder(`{"registry":"x","keep":0,"keep_tags":[],"keep_younger_than":"30d","rules":[{"repos":["a/*"],"keep":3}]}`), job.Deps{}); err != nil {
		t.Errorf("a valid spec: %v", err)
	}
}

// TestRetentionJob runs the kind against registry:2: a dry run by default
// (nothing deleted, the plan in the gauges), then apply: true.
func TestRetentionJob(t *testing.T) {
	t.Parallel()
	_, c, _ := retainRegistry(t)
	before := tagList(t, c)
	host := c.Registry().URL()
	run := func(spec string) (job.Result, *prometheus.Registry) {
		t.Helper()
		reg := prometheus.NewRegistry()
		j, err := oci.RetentionKind().New(decoder(spec), job.Deps{Registerer: reg, Now: func() time.Time { return time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		return j.Run(t.Context(), slog.New(slog.DiscardHandler)), reg
	}
	// Planned: 5 tags and 5 untagged children.
	wantGauges := func(deleted, broken int) string {
		return `
# HELP labops_oci_retention_deleted_tags Tags the last retention run deleted (0 on a dry run or a refused plan).
# TYPE labops_oci_retention_deleted_tags gauge
labops_oci_retention_deleted_tags ` + itoa(deleted) + `
# HELP labops_oci_retention_kept_broken_images Kept images the re-check after the last applied retention found not whole.
# TYPE labops_oci_retention_kept_broken_images gauge
labops_oci_retention_kept_broken_images ` + itoa(broken) + `
# HELP labops_oci_retention_planned_deletions Tags and untagged manifests the last retention plan deletes.
# TYPE labops_oci_retention_planned_deletions gauge
labops_oci_retention_planned_deletions 10
`
	}
	res, reg := run(`{"registry":"` + host + `","keep":2}`)
	if res.Status != job.StatusOK || res.Counters["planned_deleted_tags"] != 5 || res.Counters["deleted_tags"] != 0 {
		t.Errorf("dry run: %s %q, counters %v", res.Status, res.Error, res.Counters)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantGauges(0, 0)), "labops_oci_retention_deleted_tags", "labops_oci_retention_kept_broken_images", "labops_oci_retention_planned_deletions"); err != nil {
		t.Error(err)
	}
	if diff := cmp.Diff(before, tagList(t, c)); diff != "" {
		t.Errorf("the dry-run job changed tags:\n%s", diff)
	}
	res, reg = run(`{"registry":"` + host + `","keep":2,"apply":true}`)
	if res.Status != job.StatusOK || res.Counters["deleted_tags"] != 5 {
		t.Errorf("apply: %s %q, counters %v", res.Status, res.Error, res.Counters)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantGauges(5, 0)), "labops_oci_retention_deleted_tags", "labops_oci_retention_kept_broken_images", "labops_oci_retention_planned_deletions"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(mustGauge(t, reg, "labops_oci_retention_freed_bytes")); got <= 0 {
		t.Errorf("freed bytes gauge %v, want > 0", got)
	}
	if diff := cmp.Diff(keptAfterKeep2, tagList(t, c)); diff != "" {
		t.Errorf("tags after the job (-want +got):\n%s", diff)
	}
}
