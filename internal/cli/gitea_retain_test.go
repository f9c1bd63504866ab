package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// TestOCIRetainForgejo drives `labops oci retain --forgejo URL --owner NAME
// --token-file F` against a real Gitea holding four multi-arch tags whose
// per-platform children are untagged sha256: versions. Gitea's own cleanup
// rule "keep 3" counts those children and left one tag (FACTS.md); labops
// keeps three tags and removes the oldest with its two children. The brake
// refuses keep 1, and no output ever shows the token.
func TestOCIRetainForgejo(t *testing.T) {
	t.Parallel()
	g := labtest.StartGitea(t)
	reg, err := oci.ParseRegistry(g.RegistryHost, true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := oci.NewClient(reg, oci.Options{Credentials: oci.Credentials{Username: g.Owner, Password: g.Token}})
	if err != nil {
		t.Fatal(err)
	}
	p := oci.NewPusher(c)
	repo := g.Owner + "/app"
	children := map[string][]string{}
	for i := 1; i <= 4; i++ {
		tag := fmt.Sprintf("v%d", i)
		var ch []oci.Descriptor
		for _, arch := range []string{"amd64", "arm64"} {
			img := oci.Image{
				Config:   fmt.Appendf(nil, `{"architecture":%q,"os":"linux","labops":"%s"}`, arch, tag),
				Layers:   [][]byte{[]byte("shared base"), fmt.Appendf(nil, "%s %s", tag, arch)},
				Platform: &oci.Platform{OS: "linux", Architecture: arch},
			}
			d, err := p.PushImage(t.Context(), repo, "", img)
			if err != nil {
				t.Fatal(err)
			}
			ch = append(ch, d)
			children[tag] = append(children[tag], d.Digest)
		}
		if _, err := p.PushIndex(t.Context(), repo, tag, ch, false); err != nil {
			t.Fatal(err)
		}
	}
	b, err := oci.NewGiteaBackend(g.URL, g.Owner, g.Token, oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	state := func() (tags, untagged []string) {
		t.Helper()
		ts, err := b.Tags(t.Context(), repo)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range ts {
			tags = append(tags, tg.Tag)
		}
		slices.Sort(tags)
		if untagged, err = b.Untagged(t.Context(), repo); err != nil {
			t.Fatal(err)
		}
		return tags, untagged
	}
	noToken := func(name, s string) {
		t.Helper()
		if strings.Contains(s, g.Token) {
			t.Errorf("%s shows the token", name)
		}
	}
	base := []string{"oci", "retain", "--forgejo", g.URL, "--owner", g.Owner, "--token-file", g.TokenFile}

	// Dry run: the plan names v1, nothing is deleted.
	code, out, errs := runOCI(t, append(base, "--keep", "3")...)
	if code != 0 || !strings.Contains(out, "v1") {
		t.Errorf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	noToken("dry run stdout", out)
	noToken("dry run stderr", errs)
	if tags, _ := state(); len(tags) != 4 {
		t.Fatalf("after the dry run: tags %v", tags)
	}

	// The brake: keep 1 deletes 3 of 4 tags.
	code, out, errs = runOCI(t, append(base, "--keep", "1", "--apply")...)
	if code != ExitFailed {
		t.Errorf("keep 1: exit %d, want %d (the brake)\nstdout:\n%s\nstderr:\n%s", code, ExitFailed, out, errs)
	}
	if tags, _ := state(); len(tags) != 4 {
		t.Fatalf("the brake let deletions through: tags %v", tags)
	}

	// Apply keep 3.
	code, out, errs = runOCI(t, append(base, "--keep", "3", "--apply", "--json")...)
	noToken("apply stdout", out)
	noToken("apply stderr", errs)
	var res struct {
		Status          string `json:"status"`
		Applied         bool   `json:"applied"`
		DeletedTags     int    `json:"deleted_tags"`
		DeletedUntagged int    `json:"deleted_untagged"`
		Plan            struct {
			Backend string `json:"backend"`
		} `json:"plan"`
		Recheck struct {
			Status  string `json:"status"`
			Summary struct {
				Tags int `json:"tags"`
			} `json:"summary"`
		} `json:"recheck"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("apply: exit %d, stdout is not JSON (%v):\n%s\nstderr:\n%s", code, err, out, errs)
	}
	if code != 0 || res.Status != "ok" || !res.Applied || res.DeletedTags != 1 || res.DeletedUntagged != 2 ||
		res.Plan.Backend != "gitea" || res.Recheck.Status != "ok" || res.Recheck.Summary.Tags != 3 {
		t.Errorf("apply: exit %d, result %+v\nstderr:\n%s", code, res, errs)
	}
	tags, untagged := state()
	if diff := cmp.Diff([]string{"v2", "v3", "v4"}, tags); diff != "" {
		t.Errorf("tags after apply (-want +got)\n%s", diff)
	}
	var want []string
	for _, tag := range []string{"v2", "v3", "v4"} {
		want = append(want, children[tag]...)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, untagged); diff != "" {
		t.Errorf("untagged after apply (-want +got)\n%s", diff)
	}

	// A wrong token: the run is incomplete (exit 3), and says so without
	// showing the token it read.
	bad := filepath.Join(t.TempDir(), "token")
	const badToken = "0123456789abcdef0123456789abcdef01234567"
	if err := os.WriteFile(bad, []byte(badToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runOCI(t, "oci", "retain", "--forgejo", g.URL, "--owner", g.Owner, "--token-file", bad, "--keep", "3")
	if code != ExitIncomplete || !strings.Contains(out+errs, "unauthorized") {
		t.Errorf("wrong token: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if strings.Contains(out+errs, badToken) {
		t.Error("the wrong token is shown")
	}
}
