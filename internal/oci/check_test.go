package oci_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// TestCheckGarbageCollectIncident reproduces the incident with registry:2's
// own collector: an index whose children are untagged loses them to
// garbage-collect --delete-untagged, and the check names exactly that tag.
func TestCheckGarbageCollectIncident(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	pushImage(t, p, "app", "v1", image("app:v1", "debian", 3, nil))
	pushImage(t, p, "app", "v2", image("app:v2", "debian", 4, nil))
	idx, children := pushMulti(t, p, "app", "multi", false, false)
	didx, dchildren := pushMulti(t, p, "app", "multi-docker", false, true)
	pushImage(t, p, "base", "latest", image("base:latest", "debian", 2, nil))
	pushMulti(t, p, "base", "multi", true, false) // children tagged: kept

	before := oci.Check(t.Context(), client(t, r.Host(), oci.Options{}), oci.CheckOptions{})
	if before.Status != job.StatusOK {
		t.Fatalf("before the collection: status %s, want ok; report %+v", before.Status, before)
	}

	r.Stop()
	r.GarbageCollect(t, "--delete-untagged")
	r.Start()

	got := oci.Check(t.Context(), client(t, r.Host(), oci.Options{}), oci.CheckOptions{})
	missing := func(d oci.Descriptor) oci.Problem {
		return oci.Problem{Kind: oci.KindChildManifest, State: oci.StateMissing, Digest: d.Digest,
			Platform: d.Platform.String(), Status: 404, Message: "not found (MANIFEST_UNKNOWN)"}
	}
	want := []oci.BrokenImage{
		{Repo: "app", Tag: "multi", Digest: idx.Digest, Problems: []oci.Problem{missing(children[0]), missing(children[1])}},
		{Repo: "app", Tag: "multi-docker", Digest: didx.Digest, Problems: []oci.Problem{missing(dchildren[0]), missing(dchildren[1])}},
	}
	if diff := cmp.Diff(want, got.Broken, cmpopts.SortSlices(func(a, b oci.Problem) bool { return a.Digest < b.Digest })); diff != "" {
		t.Errorf("broken images (-want +got):\n%s", diff)
	}
	if got.Status != job.StatusFailed || job.ExitCode(got.Status) != 1 {
		t.Errorf("status %s, want failed (exit 1)", got.Status)
	}
	if got.Summary.Repositories != 2 || got.Summary.Tags != 8 {
		t.Errorf("summary %+v: want 2 repositories, 8 tags", got.Summary)
	}
	var text strings.Builder
	if err := got.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"BROKEN app:multi ", "BROKEN app:multi-docker ", children[1].Digest + " (linux/arm64): missing (HTTP 404)", "status: failed, 2 broken images"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
	if strings.Contains(text.String(), "app:v1") || strings.Contains(text.String(), "base:") {
		t.Errorf("text report names a healthy image:\n%s", text.String())
	}
}

// TestCheckBlobDeletedBehindCache deletes a layer's data while the
// registry runs with its in-memory blob descriptor cache, after a check
// warmed that cache: HEAD still says 200, the check must still say missing.
func TestCheckBlobDeletedBehindCache(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	img := image("web:1", "alpine", 3, nil)
	pushImage(t, p, "web", "1", img)
	pushImage(t, p, "web", "2", image("web:2", "alpine", 2, nil))
	c := client(t, r.Host(), oci.Options{})
	if rep := oci.Check(t.Context(), c, oci.CheckOptions{}); rep.Status != job.StatusOK {
		t.Fatalf("before: status %s", rep.Status)
	}
	layer := oci.Digest(img.Layers[2])
	// Warm the cache with a HEAD as HEAD-only walkers would.
	head(t, r.URL()+"/v2/web/blobs/"+layer)
	if err := os.Remove(r.BlobData(layer)); err != nil {
		t.Fatal(err)
	}
	if got := head(t, r.URL()+"/v2/web/blobs/"+layer); got != 200 {
		t.Logf("HEAD after deleting the data answered %d (FACTS says 200)", got)
	}
	rep := oci.Check(t.Context(), c, oci.CheckOptions{})
	if rep.Status != job.StatusFailed || len(rep.Broken) != 1 {
		t.Fatalf("status %s, broken %+v, errors %q; want failed with web:1 broken", rep.Status, rep.Broken, rep.Errors)
	}
	b := rep.Broken[0]
	if b.Repo != "web" || b.Tag != "1" || len(b.Problems) != 1 || b.Problems[0].Kind != oci.KindLayer ||
		b.Problems[0].Digest != layer || b.Problems[0].State != oci.StateMissing {
		t.Errorf("broken image %+v, want web:1 with layer %s missing", b, layer)
	}
}

// TestCheckDepthAndDedupe counts the requests: each distinct blob once per
// repository however many tags share it, none at --depth manifests, and
// the report's request count is what the registry saw.
func TestCheckDepthAndDedupe(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	for _, tag := range []string{"a", "b", "c", "d", "e"} {
		pushImage(t, p, "app", tag, image("app:"+tag, "debian", 3, nil))
	}
	pushMulti(t, p, "app", "multi", false, false)
	pushMulti(t, p, "app", "multi2", false, false)

	for _, tc := range []struct {
		depth     oci.Depth
		wantBlobs int
	}{
		// 5 images x (config + 2 own layers) + the shared base + 2 indexes x 2 children x (config + 2 own layers).
		{oci.DepthBlobs, 5*3 + 1 + 2*2*3},
		{oci.DepthManifests, 0},
	} {
		t.Run(string(tc.depth), func(t *testing.T) {
			t.Parallel()
			px := startProxy(t, r.URL(), nil)
			rep := oci.Check(t.Context(), client(t, px.host(), oci.Options{Concurrency: 16}), oci.CheckOptions{Depth: tc.depth})
			if rep.Status != job.StatusOK {
				t.Fatalf("status %s, errors %q", rep.Status, rep.Errors)
			}
			blobs := px.requests("GET /v2/app/blobs/")
			seen := map[string]bool{}
			for _, b := range blobs {
				if seen[b] {
					t.Errorf("blob requested twice: %s", b)
				}
				seen[b] = true
			}
			if len(blobs) != tc.wantBlobs || rep.Summary.Blobs != tc.wantBlobs {
				t.Errorf("%d blob requests, summary says %d; want %d", len(blobs), rep.Summary.Blobs, tc.wantBlobs)
			}
			if rep.Summary.Manifests != 7+4 || rep.Summary.Tags != 7 {
				t.Errorf("summary %+v: want 7 tags, 11 manifests", rep.Summary)
			}
			if got := int64(px.n.Load()); rep.Summary.Requests != got {
				t.Errorf("report counts %d requests, the registry saw %d", rep.Summary.Requests, got)
			}
		})
	}
}

// TestCheckSharedBlobDeletedBehindCache deletes the data of a base layer
// that three repositories link, while the registry runs with its cache
// warm: the data is read once per registry, but a failed read proves
// nothing, so every repository reads it itself and every image is reported.
func TestCheckSharedBlobDeletedBehindCache(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	img := image("base-only", "alpine", 2, nil)
	repos := []string{"a", "b", "c"}
	for _, repo := range repos {
		pushImage(t, p, repo, "1", img)
	}
	c := client(t, r.Host(), oci.Options{})
	if rep := oci.Check(t.Context(), c, oci.CheckOptions{}); rep.Status != job.StatusOK {
		t.Fatalf("before: status %s", rep.Status)
	}
	layer := oci.Digest(img.Layers[0])
	for _, repo := range repos {
		head(t, r.URL()+"/v2/"+repo+"/blobs/"+layer)
	}
	if err := os.Remove(r.BlobData(layer)); err != nil {
		t.Fatal(err)
	}
	rep := oci.Check(t.Context(), c, oci.CheckOptions{})
	var got []string
	for _, b := range rep.Broken {
		for _, pr := range b.Problems {
			got = append(got, b.Subject()+" "+pr.Kind+" "+pr.State)
		}
	}
	want := []string{"a:1 layer missing", "b:1 layer missing", "c:1 layer missing"}
	if rep.Status != job.StatusFailed || !slices.Equal(got, want) {
		t.Errorf("status %s, problems %q; want failed with %q", rep.Status, got, want)
	}
}
