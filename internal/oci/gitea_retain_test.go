package oci_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// giteaPopulation is what TestGiteaRetainEndToEnd pushes and expects.
type giteaPopulation struct {
	tags     map[string]map[string]string // repo -> tag -> digest
	children map[string][]oci.Descriptor  // index tag (in multi) -> its children
	orphans  []oci.Descriptor             // children of an index deleted before the run
}

// pushRetentionPopulation pushes, oldest first (Gitea's created_at has
// one-second steps; equal times fall back to version order, which is the
// push order here):
//
//   - multi: an index v00 whose tag is then deleted through the packages
//     API, leaving its two children as orphans (Gitea keeps them); indexes
//     v01..v20, each with two untagged children, except that v15 reuses
//     v07's amd64 child; latest on v03's digest. 20+1 tags and 41
//     untagged versions: 62 versions, two pages.
//   - plain: single-platform images 1.0.1..1.0.5, latest on 1.0.1.
func pushRetentionPopulation(t *testing.T, g *labtest.Gitea, c *oci.Client, p *oci.Pusher, b *oci.GiteaBackend) giteaPopulation {
	t.Helper()
	multi, plain := g.Owner+"/multi", g.Owner+"/plain"
	pop := giteaPopulation{
		tags:     map[string]map[string]string{multi: {}, plain: {}},
		children: map[string][]oci.Descriptor{},
	}
	_, pop.orphans = pushMulti(t, p, multi, "v00", false, false)
	if err := b.DeleteTag(t.Context(), oci.TagRef{Repo: multi, Tag: "v00"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		tag := fmt.Sprintf("v%02d", i)
		if i != 15 {
			idx, ch := pushMulti(t, p, multi, tag, false, i%2 == 0)
			pop.tags[multi][tag], pop.children[tag] = idx.Digest, ch
			continue
		}
		own := pushImage(t, p, multi, "", image(multi+":v15/arm64", "debian", 3, &oci.Platform{OS: "linux", Architecture: "arm64"}))
		ch := []oci.Descriptor{pop.children["v07"][0], own}
		idx, err := p.PushIndex(t.Context(), multi, tag, ch, false)
		if err != nil {
			t.Fatal(err)
		}
		pop.tags[multi][tag], pop.children[tag] = idx.Digest, ch
	}
	latest := pushTagAt(t, c, p, multi, "latest", "v03")
	pop.tags[multi]["latest"] = latest

	for i := 1; i <= 5; i++ {
		tag := fmt.Sprintf("1.0.%d", i)
		pop.tags[plain][tag] = pushImage(t, p, plain, tag, image(plain+":"+tag, "alpine", 2, nil)).Digest
	}
	pop.tags[plain]["latest"] = pushTagAt(t, c, p, plain, "latest", "1.0.1")
	return pop
}

// pushTagAt puts the manifest of repo:from under tag too.
func pushTagAt(t *testing.T, c *oci.Client, p *oci.Pusher, repo, tag, from string) string {
	t.Helper()
	m := mustGetManifest(t, c, repo, from)
	d, err := p.PushManifest(t.Context(), repo, tag, m.ContentType, m.Body)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// TestGiteaRetainEndToEnd runs `oci retain`'s engine (oci.Retain) against
// a real Gitea through the packages API: keep the newest 12 tags with
// latest protected. Only tags count against keep-N (Gitea's own cleanup
// rules count the untagged children too); latest keeps old v03 and its
// children; v15 keeps the amd64 child it shares with deleted v07; the
// children of deleted indexes, and the orphans of the earlier deletion of
// v00, are deleted. Every kept tag is whole after applying (the run's own
// re-check and ours), and still whole after Gitea's cleanup_packages has
// removed every blob no version references.
func TestGiteaRetainEndToEnd(t *testing.T) {
	t.Parallel()
	g, c, p, b := startGitea(t)
	ctx := t.Context()
	multi, plain := g.Owner+"/multi", g.Owner+"/plain"
	pop := pushRetentionPopulation(t, g, c, p, b)
	pushed := time.Now()

	policy := oci.RetentionPolicy{
		Rules:   []oci.RetentionRule{{Repos: []string{plain}, Keep: 2}},
		Default: oci.RetentionRule{Keep: 12},
	}
	if err := policy.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := oci.RetentionOptions{Policy: policy, Check: oci.CheckOptions{Depth: oci.DepthBlobs}}

	// What must go: v01, v02, v04..v08 in multi (v03 is latest), 1.0.2 and
	// 1.0.3 in plain (1.0.1 is latest).
	wantDeleted := map[string][]string{
		multi: {"v01", "v02", "v04", "v05", "v06", "v07", "v08"},
		plain: {"1.0.2", "1.0.3"},
	}
	wantKept := map[string][]string{}
	for repo, tags := range pop.tags {
		for tag := range tags {
			if !slices.Contains(wantDeleted[repo], tag) {
				wantKept[repo] = append(wantKept[repo], tag)
			}
		}
		slices.Sort(wantKept[repo])
	}
	// Untagged to delete: the orphans of v00, and the children of deleted
	// indexes except v07's amd64 child, which kept v15 still references.
	var wantUntagged []string
	for _, d := range pop.orphans {
		wantUntagged = append(wantUntagged, d.Digest)
	}
	for _, tag := range wantDeleted[multi] {
		for _, ch := range pop.children[tag] {
			if ch.Digest != pop.children["v15"][0].Digest {
				wantUntagged = append(wantUntagged, ch.Digest)
			}
		}
	}
	slices.Sort(wantUntagged)

	// Dry run: the plan, and nothing deleted.
	dry := oci.Retain(ctx, b, c, opts)
	if dry.Status != job.StatusOK || dry.Applied || dry.Plan == nil {
		t.Fatalf("dry run: status %s, error %q, applied %v", dry.Status, dry.Error, dry.Applied)
	}
	gotKept, gotDeleted, gotUntagged := planSets(dry.Plan)
	if diff := cmp.Diff(wantKept, gotKept); diff != "" {
		t.Errorf("kept (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(wantDeleted, gotDeleted); diff != "" {
		t.Errorf("deleted tags (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{multi: wantUntagged}, gotUntagged); diff != "" {
		t.Errorf("deleted untagged (-want +got)\n%s", diff)
	}
	if dry.Plan.Backend != "gitea" || dry.Plan.Summary.FreedBytes <= 0 {
		t.Errorf("plan backend %q, freed %d bytes", dry.Plan.Backend, dry.Plan.Summary.FreedBytes)
	}
	if tags, err := b.Tags(ctx, multi); err != nil || len(tags) != 21 {
		t.Fatalf("after the dry run, multi has %d tags (%v), want all 21", len(tags), err)
	}

	// Apply.
	opts.Apply = true
	res := oci.Retain(ctx, b, c, opts)
	if res.Status != job.StatusOK || !res.Applied || len(res.Errors) > 0 || len(res.Skipped) > 0 {
		t.Fatalf("apply: status %s, error %q, errors %q, skipped %q", res.Status, res.Error, res.Errors, res.Skipped)
	}
	if res.DeletedTags != 9 || res.DeletedUntagged != len(wantUntagged) {
		t.Errorf("deleted %d tags and %d untagged, want 9 and %d", res.DeletedTags, res.DeletedUntagged, len(wantUntagged))
	}
	if r := res.Recheck; r == nil || r.Status != job.StatusOK || r.Summary.Tags != len(wantKept[multi])+len(wantKept[plain]) {
		t.Errorf("the run's re-check: %+v", r)
	}

	// Gitea now holds exactly the kept tags and the children they reach.
	for repo, want := range wantKept {
		tags, err := b.Tags(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tg := range tags {
			got = append(got, tg.Tag)
			if tg.Digest != pop.tags[repo][tg.Tag] {
				t.Errorf("%s:%s now on %s, pushed as %s", repo, tg.Tag, tg.Digest, pop.tags[repo][tg.Tag])
			}
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s tags after apply (-want +got)\n%s", repo, diff)
		}
	}
	var wantChildren []oci.Descriptor
	for _, tag := range wantKept[multi] {
		if tag != "latest" {
			wantChildren = append(wantChildren, pop.children[tag]...)
		}
	}
	untagged, err := b.Untagged(ctx, multi)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(slices.Compact(digests(wantChildren)), untagged); diff != "" {
		t.Errorf("untagged after apply (-want +got)\n%s", diff)
	}

	// Gitea's own collection: every blob no version references goes.
	// Blobs younger than a whole second are spared, so wait for the clock
	// to pass the last push's second.
	time.Sleep(time.Until(pushed.Truncate(time.Second).Add(time.Second)))
	gone := pop.children["v01"][1]                                         // the arm64 image of a deleted index
	keptV20 := mustGetManifest(t, c, multi, pop.children["v20"][1].Digest) // kept, for contrast
	if _, err := os.Stat(g.BlobPath(gone.Digest)); err != nil {
		t.Fatalf("the deleted child's manifest blob is not on disk before the cleanup: %v", err)
	}
	g.RunCron(t, "cleanup_packages")
	if _, err := os.Stat(g.BlobPath(gone.Digest)); !os.IsNotExist(err) {
		t.Errorf("blob %s of a deleted child survived cleanup_packages: %v", gone.Digest, err)
	}
	for _, l := range keptV20.Manifest.Layers {
		if _, err := os.Stat(g.BlobPath(l.Digest)); err != nil {
			t.Errorf("layer %s of kept v20 gone from disk: %v", l.Digest, err)
		}
	}
	for repo, tags := range wantKept {
		for _, tag := range tags {
			assertWhole(t, c, repo, tag)
		}
	}
}

// planSets flattens a plan: repo -> sorted kept tags, deleted tags,
// deleted untagged digests.
func planSets(p *oci.RetentionPlan) (kept, deleted, untagged map[string][]string) {
	kept, deleted, untagged = map[string][]string{}, map[string][]string{}, map[string][]string{}
	for _, rp := range p.Repos {
		for _, k := range rp.Kept {
			kept[rp.Repo] = append(kept[rp.Repo], k.Tag)
		}
		for _, d := range rp.Deleted {
			deleted[rp.Repo] = append(deleted[rp.Repo], d.Tag)
		}
		for _, u := range rp.Untagged {
			untagged[rp.Repo] = append(untagged[rp.Repo], u.Digest)
		}
		slices.Sort(kept[rp.Repo])
		slices.Sort(deleted[rp.Repo])
		slices.Sort(untagged[rp.Repo])
	}
	return kept, deleted, untagged
}

// TestGiteaRetentionJob runs the oci-retention job kind with forgejo,
// owner and token_file: the token is read from its file at each run, so a
// run with a stale token is incomplete and the next run, after the file
// was rewritten, applies.
func TestGiteaRetentionJob(t *testing.T) {
	t.Parallel()
	g, _, p, b := startGitea(t)
	repo := g.Owner + "/app"
	var kept []oci.Descriptor
	for i := 1; i <= 3; i++ {
		_, ch := pushMulti(t, p, repo, fmt.Sprintf("v%d", i), false, false)
		if i > 1 {
			kept = append(kept, ch...)
		}
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("0000000000000000000000000000000000000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keep := 2
	j, err := oci.NewRetention(oci.RetentionSpec{Forgejo: g.URL, Owner: g.Owner, TokenFile: tokenFile, Keep: &keep, Apply: true},
		job.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	res := j.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Status != job.StatusIncomplete || !strings.Contains(res.Error, "unauthorized") {
		t.Errorf("stale token: %s %q", res.Status, res.Error)
	}
	if err := os.WriteFile(tokenFile, []byte(g.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res = j.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Status != job.StatusOK || res.Counters["deleted_tags"] != 1 || res.Counters["deleted_untagged"] != 2 || res.Counters["kept_broken_images"] != 0 {
		t.Fatalf("apply: %s %q, counters %v", res.Status, res.Error, res.Counters)
	}
	tags, err := b.Tags(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(tags); len(got) != 2 || got["v1"] != "" {
		t.Errorf("tags after the job: %v", got)
	}
	untagged, err := b.Untagged(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(digests(kept), untagged); diff != "" {
		t.Errorf("untagged after the job (-want +got)\n%s", diff)
	}
}
