package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// seedRetain starts registry:2 with app v1..v4 (created on days 1..4, over
// a shared base layer), latest on v4, and a two-platform index multi:m1
// and m2 with untagged children.
func seedRetain(t *testing.T) (*labtest.Registry, *oci.Client) {
	t.Helper()
	r, c, p := startRegistry(t, oci.Options{})
	ctx := t.Context()
	img := func(name string, day int, pl *oci.Platform) oci.Image {
		return oci.Image{
			Config:   fmt.Appendf(nil, `{"created":"2025-01-0%dT00:00:00Z","os":"linux","architecture":"amd64","name":%q}`, day, name),
			Layers:   [][]byte{[]byte("shared base"), []byte("own layer of " + name)},
			Platform: pl,
		}
	}
	for i := 1; i <= 4; i++ {
		if _, err := p.PushImage(ctx, "app", fmt.Sprintf("v%d", i), img(fmt.Sprintf("app%d", i), i, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.PushImage(ctx, "app", "latest", img("app4", 4, nil)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		var children []oci.Descriptor
		for _, arch := range []string{"amd64", "arm64"} {
			d, err := p.PushImage(ctx, "multi", "", img(fmt.Sprintf("m%d-%s", i, arch), i, &oci.Platform{OS: "linux", Architecture: arch}))
			if err != nil {
				t.Fatal(err)
			}
			children = append(children, d)
		}
		if _, err := p.PushIndex(ctx, "multi", fmt.Sprintf("m%d", i), children, false); err != nil {
			t.Fatal(err)
		}
	}
	return r, c
}

func repoTags(t *testing.T, c *oci.Client, repo string) []string {
	t.Helper()
	tags, err := c.Tags(t.Context(), repo, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	return tags
}

func TestOCIRetainCommand(t *testing.T) {
	t.Parallel()
	r, c := seedRetain(t)
	dir := t.TempDir()

	// The dry run: the plan, nothing deleted, exit 0, nothing on stderr.
	code, out, errs := run(t, t.Context(), dir, nil, "oci", "retain", r.URL(), "--keep", "1", "--max-delete-share", "0.6")
	if code != ExitOK || errs != "" {
		t.Fatalf("dry run: exit %d, stderr %q\n%s", code, errs, out)
	}
	for _, want := range []string{
		"app: 5 tags (keep newest 1 by created, keep-tag latest)",
		`  keep    latest  `, `matches keep-tag "latest"`,
		"  delete  v1  ", "created 2025-01-01T00:00:00Z, not among the newest 1",
		"multi: 2 tags", "linux/arm64, child of deleted index m1",
		"dry run: nothing deleted",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if got := repoTags(t, c, "app"); len(got) != 5 {
		t.Errorf("the dry run deleted tags: %q", got)
	}

	// The brake: keep 1 deletes 3 of 5 app tags; the default 50% refuses.
	code, out, _ = run(t, t.Context(), dir, nil, "oci", "retain", r.URL(), "--keep", "1", "--apply")
	if code != ExitFailed || !strings.Contains(out, "REFUSED: would delete 3 of 5 tags (60%)") || !strings.Contains(out, "nothing was deleted") {
		t.Errorf("brake: exit %d, want 1 with the refusal:\n%s", code, out)
	}
	if got := repoTags(t, c, "app"); len(got) != 5 {
		t.Errorf("a refused plan deleted tags: %q", got)
	}

	// Apply, as JSON.
	code, out, errs = run(t, t.Context(), dir, nil, "oci", "retain", r.URL(), "--keep", "1", "--apply", "--force", "--json")
	if code != ExitOK {
		t.Fatalf("apply: exit %d, stderr %q\n%s", code, errs, out)
	}
	var res struct {
		Applied         bool   `json:"applied"`
		DeletedTags     int    `json:"deleted_tags"`
		DeletedUntagged int    `json:"deleted_untagged"`
		Status          string `json:"status"`
		Plan            struct {
			Repositories []struct {
				Repository string `json:"repository"`
				Order      string `json:"order"`
				Kept       []struct {
					Tag     string   `json:"tag"`
					Reasons []string `json:"reasons"`
				} `json:"kept"`
			} `json:"repositories"`
			Summary struct {
				FreedBytes int64 `json:"freed_bytes"`
			} `json:"summary"`
		} `json:"plan"`
		Recheck struct {
			Status  string `json:"status"`
			Summary struct {
				Tags int `json:"tags"`
			} `json:"summary"`
		} `json:"recheck"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if !res.Applied || res.DeletedTags != 4 || res.DeletedUntagged != 2 || res.Status != "ok" ||
		res.Recheck.Status != "ok" || res.Recheck.Summary.Tags != 3 || res.Plan.Summary.FreedBytes <= 0 {
		t.Errorf("apply --json: %+v", res)
	}
	if diff := cmp.Diff([]string{"latest", "v4"}, repoTags(t, c, "app")); diff != "" {
		t.Errorf("app tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"m2"}, repoTags(t, c, "multi")); diff != "" {
		t.Errorf("multi tags (-want +got):\n%s", diff)
	}

	// The registry's plain collector, then oci check: whole.
	r.Stop()
	r.GarbageCollect(t)
	r.Start()
	code, out, _ = run(t, t.Context(), dir, nil, "oci", "check", r.URL())
	if code != ExitOK {
		t.Errorf("oci check after retain and garbage-collect: exit %d\n%s", code, out)
	}
}

func TestOCIRetainUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"127.0.0.1:1"}, "--keep N is required"},
		{[]string{"127.0.0.1:1", "--keep", "-1"}, "--keep -1: valid is 0 or more"},
		{[]string{"--keep", "1"}, "give REGISTRY, or --forgejo URL --owner NAME --token-file F"},
		{[]string{"127.0.0.1:1", "--keep", "1", "--keep-tag", "[v"}, `--keep-tag: pattern "[v": syntax error in pattern`},
		{[]string{"127.0.0.1:1", "--keep", "1", "--repo", "[a"}, `--repo: pattern "[a": syntax error in pattern`},
		{[]string{"127.0.0.1:1", "--keep", "1", "--keep-younger-than", "old"}, `--keep-younger-than: "old" is not a positive age`},
		{[]string{"127.0.0.1:1", "--keep", "1", "--max-delete-share", "2"}, "--max-delete-share 2: valid is more than 0 and at most 1"},
		{[]string{"127.0.0.1:1", "--keep", "1", "--owner", "o"}, "--owner and --token-file go with --forgejo"},
		{[]string{"127.0.0.1:1", "--keep", "1", "--forgejo", "http://127.0.0.1:1"}, "give REGISTRY or --forgejo, not both"},
		{[]string{"--keep", "1", "--forgejo", "http://127.0.0.1:1"}, "--forgejo needs --owner NAME"},
		{[]string{"--keep", "1", "--forgejo", "http://127.0.0.1:1", "--owner", "o"}, "--forgejo needs --token-file F"},
		{[]string{"--keep", "1", "--forgejo", "http://127.0.0.1:1", "--owner", "o", "--token-file", "/nonexistent"}, "--token-file: reading password file"},
		{[]string{"a", "b", "--keep", "1"}, "accepts at most 1 arg"},
	} {
		code, _, stderr := run(t, t.Context(), dir, nil, append([]string{"oci", "retain"}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("oci retain %s: exit %d, stderr %q; want exit 2 mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	code, stdout, _ := run(t, t.Context(), dir, nil, "oci", "retain", "--help")
	if code != 0 || !strings.Contains(stdout, "EXIT STATUS") || !strings.Contains(stdout, "--max-delete-share") {
		t.Errorf("oci retain --help: exit %d\n%s", code, stdout)
	}
}

// TestOCIRetainUnreachable: a registry that does not answer is exit 3, and
// nothing is claimed.
func TestOCIRetainUnreachable(t *testing.T) {
	t.Parallel()
	port := labtest.FreePort(t)
	code, out, stderr := run(t, t.Context(), t.TempDir(), nil, "oci", "retain", fmt.Sprintf("http://127.0.0.1:%d", port), "--keep", "1", "--request-timeout", "2s")
	if code != ExitIncomplete || !strings.Contains(stderr, "retention is incomplete") || !strings.Contains(out, "status: incomplete") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, stderr, out)
	}
}
