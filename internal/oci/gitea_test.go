package oci_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// startGitea starts a real Gitea and returns it with a pusher and a
// reading client for its registry (basic Owner:Token, exchanged for a
// bearer token) and the packages-API backend.
func startGitea(t *testing.T) (*labtest.Gitea, *oci.Client, *oci.Pusher, *oci.GiteaBackend) {
	t.Helper()
	g := labtest.StartGitea(t)
	c := client(t, g.RegistryHost, oci.Options{Credentials: oci.Credentials{Username: g.Owner, Password: g.Token}})
	token, err := oci.ReadPasswordFile(g.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := oci.NewGiteaBackend(g.URL, g.Owner, token, oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Registry() != c.Registry() {
		t.Fatalf("backend registry %v, gitea's %v", b.Registry(), c.Registry())
	}
	return g, c, oci.NewPusher(c), b
}

func digests(ds []oci.Descriptor) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	slices.Sort(out)
	return out
}

// tagMap is tag → digest.
func tagMap(tags []oci.TagRef) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[t.Tag] = t.Digest
	}
	return m
}

// TestGiteaBackend lists and deletes on a real Gitea: tags with their
// digests and creation times, the untagged children of indexes, a
// repository name with a slash, deleting one tag leaves another tag on
// the same digest whole, and deletes are idempotent.
func TestGiteaBackend(t *testing.T) {
	t.Parallel()
	g, c, p, b := startGitea(t)
	ctx := t.Context()
	app := g.Owner + "/app"
	team := g.Owner + "/team/app"

	v1, v1Children := pushMulti(t, p, app, "v1", false, false)
	v2, v2Children := pushMulti(t, p, app, "v2", false, true)
	if _, err := p.PushManifest(ctx, app, "latest", v2.MediaType, mustGetManifest(t, c, app, "v2").Body); err != nil {
		t.Fatal(err)
	}
	plain := pushImage(t, p, app, "plain", image("plain", "alpine", 2, nil))
	teamImg := pushImage(t, p, team, "1.0", image("team", "alpine", 1, nil))

	repos, err := b.Repos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{app, team}, repos); diff != "" {
		t.Errorf("Repos (-want +got)\n%s", diff)
	}
	tags, err := b.Tags(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"v1": v1.Digest, "v2": v2.Digest, "latest": v2.Digest, "plain": plain.Digest}
	if diff := cmp.Diff(want, tagMap(tags)); diff != "" {
		t.Errorf("Tags (-want +got)\n%s", diff)
	}
	for i, tg := range tags {
		if tg.Repo != app || tg.Created.IsZero() {
			t.Errorf("tag %+v: want repo %s and a creation time", tg, app)
		}
		if i > 0 && tg.Created.After(tags[i-1].Created) {
			t.Errorf("tags not newest first: %v after %v", tg, tags[i-1])
		}
	}
	untagged, err := b.Untagged(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(digests(append(slices.Clone(v1Children), v2Children...)), untagged); diff != "" {
		t.Errorf("Untagged (-want +got)\n%s", diff)
	}

	// Deleting v2 by tag leaves latest, on the same digest, whole.
	if err := b.DeleteTag(ctx, oci.TagRef{Repo: app, Tag: "v2", Digest: v2.Digest}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetManifest(ctx, app, "v2"); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("GET v2 after delete: %v, want not found", err)
	}
	assertWhole(t, c, app, "latest")
	// Again: already gone is fine.
	if err := b.DeleteTag(ctx, oci.TagRef{Repo: app, Tag: "v2"}); err != nil {
		t.Errorf("second delete: %v", err)
	}
	// An untagged child by digest.
	if err := b.DeleteUntagged(ctx, app, v1Children[0].Digest); err != nil {
		t.Fatal(err)
	}
	untagged, err = b.Untagged(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(untagged, v1Children[0].Digest) || len(untagged) != 3 {
		t.Errorf("Untagged after deleting %s: %v", v1Children[0].Digest, untagged)
	}
	// Gitea keeps the children of a deleted index (v2's are still listed).
	for _, ch := range v2Children {
		if !slices.Contains(untagged, ch.Digest) {
			t.Errorf("child %s of deleted v2 no longer listed", ch.Digest)
		}
	}
	// A repository with a slash in its name.
	teamTags, err := b.Tags(ctx, team)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"1.0": teamImg.Digest}, tagMap(teamTags)); diff != "" {
		t.Errorf("Tags(%s) (-want +got)\n%s", team, diff)
	}
	if err := b.DeleteTag(ctx, oci.TagRef{Repo: team, Tag: "1.0"}); err != nil {
		t.Fatal(err)
	}
	if teamTags, err := b.Tags(ctx, team); err != nil || len(teamTags) != 0 {
		t.Errorf("Tags(%s) after delete: %v, %v", team, teamTags, err)
	}
}

// TestGiteaBackendPagination: more versions than one page of 50, in one
// repository: 26 multi-arch indexes (78 versions with their children) and
// 3 plain images.
func TestGiteaBackendPagination(t *testing.T) {
	t.Parallel()
	g, _, p, b := startGitea(t)
	ctx := t.Context()
	app := g.Owner + "/many"
	wantTags := map[string]string{}
	var children []oci.Descriptor
	for i := range 26 {
		tag := fmt.Sprintf("r%02d", i)
		idx, ch := pushMulti(t, p, app, tag, false, false)
		wantTags[tag] = idx.Digest
		children = append(children, ch...)
	}
	for i := range 3 {
		tag := fmt.Sprintf("p%d", i)
		wantTags[tag] = pushImage(t, p, app, tag, image(tag, "alpine", 1, nil)).Digest
	}
	tags, err := b.Tags(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantTags, tagMap(tags)); diff != "" {
		t.Errorf("Tags (-want +got)\n%s", diff)
	}
	untagged, err := b.Untagged(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(digests(children), untagged); diff != "" {
		t.Errorf("Untagged (-want +got)\n%s", diff)
	}
	repos, err := b.Repos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{app}, repos); diff != "" {
		t.Errorf("Repos (-want +got)\n%s", diff)
	}
}

func mustGetManifest(t *testing.T, c *oci.Client, repo, ref string) *oci.FetchedManifest {
	t.Helper()
	m, err := c.GetManifest(t.Context(), repo, ref)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// assertWhole deep-checks repo:tag (every child, config and layer there).
func assertWhole(t *testing.T, c *oci.Client, repo, tag string) {
	t.Helper()
	ref, err := oci.ParseReference(c.Registry().Host+"/"+repo+":"+tag, true)
	if err != nil {
		t.Fatal(err)
	}
	r := oci.CheckReference(t.Context(), c, ref, oci.CheckOptions{Depth: oci.DepthBlobs})
	if r.Error != "" || len(r.Broken) > 0 || r.Summary.Tags != 1 {
		t.Errorf("%s:%s not whole: error %q, broken %+v, summary %+v", repo, tag, r.Error, r.Broken, r.Summary)
	}
}
