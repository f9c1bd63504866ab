package oci_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// population is what seedRetention pushed: for each "repo:tag", every
// digest it reaches (manifests, configs, layers).
type population struct {
	reach map[string][]string
}

func (pop *population) add(key string, ds ...string) { pop.reach[key] = append(pop.reach[key], ds...) }

// only returns the digests that the given tags reach and no other tag does.
func (pop *population) only(keys ...string) []string {
	other := map[string]bool{}
	for k, ds := range pop.reach {
		if !slices.Contains(keys, k) {
			for _, d := range ds {
				other[d] = true
			}
		}
	}
	var out []string
	for _, k := range keys {
		for _, d := range pop.reach[k] {
			if !other[d] && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	slices.Sort(out)
	return out
}

func createdAt(day int) time.Time { return time.Date(2025, 1, day, 12, 0, 0, 0, time.UTC) }

// retainImage is an image whose config carries a creation time, over a
// base layer shared with every image of the same base.
func retainImage(name, base string, day int, pl *oci.Platform) oci.Image {
	arch := "amd64"
	if pl != nil {
		arch = pl.Architecture
	}
	return oci.Image{
		Config:   fmt.Appendf(nil, `{"created":%q,"architecture":%q,"os":"linux","labops":%q}`, createdAt(day).Format(time.RFC3339), arch, name),
		Layers:   [][]byte{fmt.Appendf(nil, "base layer %s", base), fmt.Appendf(nil, "own layer of %s", name)},
		Platform: pl,
	}
}

func imageDigests(img oci.Image, manifest string) []string {
	ds := []string{manifest, oci.Digest(img.Config)}
	for _, l := range img.Layers {
		ds = append(ds, oci.Digest(l))
	}
	return ds
}

// seedRetention pushes, on day N each:
//   - app: single-arch v1..v4 over a shared debian base, latest on v4's
//     image, and old-alias on v3's image;
//   - multi: two-platform OCI indexes m1..m4 with untagged children over
//     an alpine base, latest on m4's index, and m3 reusing m2's arm64 child;
//   - docker: Docker manifest lists d1..d3 with untagged children.
func seedRetention(t *testing.T, c *oci.Client) *population {
	t.Helper()
	ctx := t.Context()
	p := oci.NewPusher(c)
	pop := &population{reach: map[string][]string{}}
	for i := 1; i <= 4; i++ {
		img := retainImage(fmt.Sprintf("app-%d", i), "debian", i, nil)
		d := pushImage(t, p, "app", fmt.Sprintf("v%d", i), img)
		pop.add(fmt.Sprintf("app:v%d", i), imageDigests(img, d.Digest)...)
		switch i {
		case 3:
			pushTag(t, c, "app", "old-alias", d)
			pop.add("app:old-alias", imageDigests(img, d.Digest)...)
		case 4:
			pushTag(t, c, "app", "latest", d)
			pop.add("app:latest", imageDigests(img, d.Digest)...)
		}
	}
	multi := func(repo, tag string, day int, docker bool, reuse *oci.Descriptor, reuseDigests []string) (oci.Descriptor, []oci.Descriptor, map[string][]string) {
		var children []oci.Descriptor
		digests := map[string][]string{}
		for _, arch := range []string{"amd64", "arm64"} {
			if arch == "arm64" && reuse != nil {
				children = append(children, *reuse)
				digests[reuse.Digest] = reuseDigests
				continue
			}
			pl := &oci.Platform{OS: "linux", Architecture: arch}
			img := retainImage(repo+":"+tag+"/"+arch, "alpine", day, pl)
			img.Docker = docker
			d := pushImage(t, p, repo, "", img)
			children = append(children, d)
			digests[d.Digest] = imageDigests(img, d.Digest)
		}
		idx, err := p.PushIndex(ctx, repo, tag, children, docker)
		if err != nil {
			t.Fatal(err)
		}
		return idx, children, digests
	}
	var m2arm64 oci.Descriptor
	var m2arm64Digests []string
	for i := 1; i <= 4; i++ {
		tag := fmt.Sprintf("m%d", i)
		var reuse *oci.Descriptor
		if i == 3 {
			reuse = &m2arm64
		}
		idx, children, digests := multi("multi", tag, i, false, reuse, m2arm64Digests)
		if i == 2 {
			m2arm64, m2arm64Digests = children[1], digests[children[1].Digest]
		}
		keys := []string{"multi:" + tag}
		if i == 4 {
			pushIndexTag(t, p, "multi", "latest", children, false)
			keys = append(keys, "multi:latest")
		}
		for _, k := range keys {
			pop.add(k, idx.Digest)
			for _, ds := range digests {
				pop.add(k, ds...)
			}
		}
	}
	for i := 1; i <= 3; i++ {
		tag := fmt.Sprintf("d%d", i)
		idx, _, digests := multi("docker", tag, i, true, nil, nil)
		pop.add("docker:"+tag, idx.Digest)
		for _, ds := range digests {
			pop.add("docker:"+tag, ds...)
		}
	}
	return pop
}

// pushTag tags an already pushed image manifest again.
func pushTag(t *testing.T, c *oci.Client, repo, tag string, d oci.Descriptor) {
	t.Helper()
	p := oci.NewPusher(c)
	fm, err := c.GetManifest(t.Context(), repo, d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PushManifest(t.Context(), repo, tag, fm.ContentType, fm.Body); err != nil {
		t.Fatal(err)
	}
}

// pushIndexTag pushes the same index body under another tag.
func pushIndexTag(t *testing.T, p *oci.Pusher, repo, tag string, children []oci.Descriptor, docker bool) {
	t.Helper()
	if _, err := p.PushIndex(t.Context(), repo, tag, children, docker); err != nil {
		t.Fatal(err)
	}
}

// retainRegistry starts registry:2 and seeds the population.
func retainRegistry(t *testing.T) (*labtest.Registry, *oci.Client, *population) {
	t.Helper()
	r := labtest.StartRegistry(t, labtest.RegistryOptions{})
	c := client(t, r.Host(), oci.Options{Concurrency: 16})
	return r, c, seedRetention(t, c)
}

func retain(t *testing.T, c *oci.Client, policy oci.RetentionPolicy, apply bool) *oci.RetentionResult {
	t.Helper()
	return oci.Retain(t.Context(), oci.NewRegistryBackend(c, 0), c, oci.RetentionOptions{Policy: policy, Apply: apply})
}

func tagList(t *testing.T, c *oci.Client) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, repo := range []string{"app", "multi", "docker"} {
		tags, err := c.Tags(t.Context(), repo, 0)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(tags)
		out[repo] = tags
	}
	return out
}

var keptAfterKeep2 = map[string][]string{
	"app":    {"latest", "old-alias", "v3", "v4"},
	"multi":  {"latest", "m3", "m4"},
	"docker": {"d2", "d3"},
}

var deletedAfterKeep2 = []string{"app:v1", "app:v2", "multi:m1", "multi:m2", "docker:d1"}

// TestRetainThenPlainGarbageCollect is the proof: labops' retention, then
// registry:2's own plain garbage-collect, leaves every kept tag whole and
// reclaims the blobs only the deleted images used. The naive cleanup of the
// incident, on a fresh registry with the same population, breaks the kept
// multi-arch images.
func TestRetainThenPlainGarbageCollect(t *testing.T) {
	t.Parallel()
	t.Run("labops", func(t *testing.T) {
		t.Parallel()
		r, c, pop := retainRegistry(t)
		res := retain(t, c, oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 2}}, true)
		if res.Status != job.StatusOK || !res.Applied {
			t.Fatalf("retain: status %s (%s), errors %q", res.Status, res.Error, res.Errors)
		}
		if res.DeletedTags != 5 || res.DeletedUntagged != 5 {
			t.Errorf("deleted %d tags and %d untagged, want 5 and 5 (m1's two children, m2's amd64, d1's two)", res.DeletedTags, res.DeletedUntagged)
		}
		if res.Recheck == nil || res.Recheck.Summary.Tags != 9 || res.Recheck.Status != job.StatusOK {
			t.Errorf("re-check %+v, want 9 kept tags whole", res.Recheck)
		}
		for _, rp := range res.Plan.Repos {
			if rp.Repo == "app" {
				i := slices.IndexFunc(rp.Kept, func(k oci.KeptTag) bool { return k.Tag == "old-alias" })
				if i < 0 || rp.Kept[i].Reasons[0] != "shares digest with kept tag v3" {
					t.Errorf("app:old-alias kept %+v, want kept for sharing v3's digest", rp.Kept)
				}
			}
		}
		if diff := cmp.Diff(keptAfterKeep2, tagList(t, c)); diff != "" {
			t.Errorf("tags after retain (-want +got):\n%s", diff)
		}
		freed := pop.only(deletedAfterKeep2...)
		// v1, v2: manifest, config, own layer; m1: index and two children
		// with theirs; m2: index and its amd64 child; d1 like m1.
		if len(freed) != 3+3+7+4+7 {
			t.Fatalf("%d blobs only the deleted images use, want 24", len(freed))
		}
		var freedBytes int64
		for _, d := range freed {
			st, err := os.Stat(r.BlobData(d))
			if err != nil {
				t.Fatalf("blob %s of a deleted image is gone before the collection: %v", d, err)
			}
			freedBytes += st.Size()
		}
		if res.Plan.Summary.FreedBytes != freedBytes {
			t.Errorf("plan expects %d bytes freed, the deleted images alone use %d on disk", res.Plan.Summary.FreedBytes, freedBytes)
		}

		r.Stop()
		out := r.GarbageCollect(t)
		r.Start()

		rep := oci.Check(t.Context(), client(t, r.Host(), oci.Options{}), oci.CheckOptions{})
		if rep.Status != job.StatusOK || rep.Summary.Tags != 9 {
			var b strings.Builder
			rep.WriteText(&b)
			t.Errorf("oci check after retain and plain garbage-collect: %s, %d tags\n%s", rep.Status, rep.Summary.Tags, b.String())
		}
		for _, d := range freed {
			if _, err := os.Stat(r.BlobData(d)); !os.IsNotExist(err) {
				t.Errorf("blob %s only deleted images used is still on disk (%v)", d, err)
			}
		}
		for _, tag := range []string{"app:latest", "app:v3", "multi:m3", "multi:latest", "docker:d2"} {
			for _, d := range pop.reach[tag] {
				if _, err := os.Stat(r.BlobData(d)); err != nil {
					t.Errorf("blob %s of kept %s: %v", d, tag, err)
				}
			}
		}
		if t.Failed() {
			t.Logf("garbage-collect output:\n%s", out)
		}
	})
	t.Run("naive", func(t *testing.T) {
		t.Parallel()
		r, c, _ := retainRegistry(t)
		r.Stop()
		for _, rt := range deletedAfterKeep2 {
			repo, tag, _ := strings.Cut(rt, ":")
			dir := filepath.Join(r.Root(), "docker", "registry", "v2", "repositories", repo, "_manifests", "tags", tag)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}
		r.GarbageCollect(t, "--delete-untagged")
		r.Start()
		if diff := cmp.Diff(keptAfterKeep2, tagList(t, c)); diff != "" {
			t.Errorf("tags after the naive cleanup (-want +got):\n%s", diff)
		}
		rep := oci.Check(t.Context(), client(t, r.Host(), oci.Options{}), oci.CheckOptions{})
		var broken []string
		for _, b := range rep.Broken {
			broken = append(broken, b.Subject())
		}
		// Every kept multi-arch tag is broken; the single-arch ones survive.
		want := []string{"docker:d2", "docker:d3", "multi:latest", "multi:m3", "multi:m4"}
		if rep.Status != job.StatusFailed || !slices.Equal(broken, want) {
			t.Errorf("oci check after the naive cleanup: %s, broken %q; want failed with %q", rep.Status, broken, want)
		}
	})
}

// TestRetainBrakeAndDryRun: the dry run and a refused plan delete nothing;
// --force releases the brake.
func TestRetainBrakeAndDryRun(t *testing.T) {
	t.Parallel()
	_, c, _ := retainRegistry(t)
	before := tagList(t, c)

	dry := retain(t, c, oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 2}}, false)
	if dry.Status != job.StatusOK || dry.Applied || dry.Recheck != nil || dry.Plan.Summary.TagsDeleted != 5 {
		t.Errorf("dry run: status %s, applied %v, plan %+v; want ok, 5 planned, nothing applied", dry.Status, dry.Applied, dry.Plan.Summary)
	}
	if diff := cmp.Diff(before, tagList(t, c)); diff != "" {
		t.Errorf("the dry run changed tags (-before +after):\n%s", diff)
	}

	// keep 1 deletes 4 of 6 app tags and 3 of 5 multi tags: refused; the
	// rule for docker deletes 1 of 3, but nothing anywhere is deleted.
	refused := retain(t, c, oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1}, Rules: []oci.RetentionRule{{Repos: []string{"docker"}, Keep: 2}}}, true)
	if refused.Status != job.StatusFailed || refused.Applied || !refused.Plan.Refused || job.ExitCode(refused.Status) != 1 {
		t.Errorf("brake: status %s, applied %v, refused %v; want failed (exit 1), not applied", refused.Status, refused.Applied, refused.Plan.Refused)
	}
	if !strings.Contains(refused.Error, "nothing was deleted") {
		t.Errorf("brake error %q does not say nothing was deleted", refused.Error)
	}
	if diff := cmp.Diff(before, tagList(t, c)); diff != "" {
		t.Errorf("a refused plan changed tags (-before +after):\n%s", diff)
	}

	forced := retain(t, c, oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1}, Force: true}, true)
	if forced.Status != job.StatusOK || forced.DeletedTags != 9 {
		t.Errorf("forced: status %s (%s), deleted %d tags; want ok, 9", forced.Status, forced.Error, forced.DeletedTags)
	}
	want := map[string][]string{"app": {"latest", "v4"}, "multi": {"latest", "m4"}, "docker": {"d3"}}
	if diff := cmp.Diff(want, tagList(t, c)); diff != "" {
		t.Errorf("tags after the forced run (-want +got):\n%s", diff)
	}
}

// failingBackend wraps a backend and fails DeleteTag for some tags.
type failingBackend struct {
	oci.RetentionBackend
	fail func(oci.TagRef) bool
}

func (b failingBackend) DeleteTag(ctx context.Context, t oci.TagRef) error {
	if b.fail(t) {
		return fmt.Errorf("deleting %s:%s: %w", t.Repo, t.Tag, oci.ErrServer)
	}
	return b.RetentionBackend.DeleteTag(ctx, t)
}

// TestRetainDeleteFailsKeepsChildren: when deleting an index's tag fails,
// its children stay (the index still needs them), the run is incomplete
// (exit 3), and every kept tag is still whole.
func TestRetainDeleteFailsKeepsChildren(t *testing.T) {
	t.Parallel()
	_, c, _ := retainRegistry(t)
	b := failingBackend{RetentionBackend: oci.NewRegistryBackend(c, 0), fail: func(t oci.TagRef) bool { return t.Tag == "m1" }}
	res := oci.Retain(t.Context(), b, c, oci.RetentionOptions{Policy: oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 2}}, Apply: true})
	if res.Status != job.StatusIncomplete || job.ExitCode(res.Status) != 3 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "multi:m1") {
		t.Errorf("status %s, errors %q; want incomplete naming multi:m1", res.Status, res.Errors)
	}
	if res.DeletedTags != 4 || res.DeletedUntagged != 3 || len(res.Skipped) != 2 {
		t.Errorf("deleted %d tags, %d untagged, skipped %q; want 4, 3 and m1's two children skipped", res.DeletedTags, res.DeletedUntagged, res.Skipped)
	}
	if res.Recheck == nil || res.Recheck.Status != job.StatusOK {
		t.Errorf("re-check %+v, want every kept tag whole", res.Recheck)
	}
	// m1 itself is still whole: its children were not deleted under it.
	rep := oci.Check(t.Context(), c, oci.CheckOptions{Repos: []string{"multi"}})
	if rep.Status != job.StatusOK || rep.Summary.Tags != 4 {
		t.Errorf("multi after the failed deletion: %s, %d tags, broken %+v", rep.Status, rep.Summary.Tags, rep.Broken)
	}
}
