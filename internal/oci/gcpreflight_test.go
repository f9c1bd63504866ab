package oci_test

import (
	"flag"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

var updateGCSamples = flag.Bool("update-gc-samples", false, "rewrite testdata/gc-dry-run*.txt from the real registry")

// deleteManifest deletes a manifest by digest through the registry API.
func deleteManifest(t *testing.T, r *labtest.Registry, repo, digest string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, r.URL()+"/v2/"+repo+"/manifests/"+digest, nil)
	must(t, err)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE %s@%s: %s", repo, digest, resp.Status)
	}
}

// dryRun runs the real collector's dry run and returns its stdout.
func dryRun(t *testing.T, r *labtest.Registry, flags ...string) []byte {
	t.Helper()
	out, err := exec.Command("docker-registry", append(append([]string{"garbage-collect", "--dry-run"}, flags...), r.Config())...).Output()
	if err != nil {
		t.Fatalf("garbage-collect --dry-run %v: %v", flags, err)
	}
	return out
}

func sortedDigests(ds ...oci.Descriptor) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestGCPreflightIncident is the incident for real: a two-platform OCI
// index with untagged children. garbage-collect --delete-untagged is
// refused, naming the index's tag and every digest it would lose; a plain
// garbage-collect is accepted with the bytes it frees; and then both
// collections run for real and do what the preflight said.
func TestGCPreflightIncident(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	idx, children := pushMulti(t, p, "app", "multi", false, false)
	pushImage(t, p, "app", "v1", image("app:v1", "debian", 2, nil))
	gone := pushImage(t, p, "app", "gone", image("app:gone", "debian", 2, nil))
	s := &scanSeed{r: r}
	goneM := s.manifest(t, gone.Digest)
	deleteManifest(t, r, "app", gone.Digest)
	var lostBlobs []oci.Descriptor
	for _, c := range children {
		m := s.manifest(t, c.Digest)
		lostBlobs = append(lostBlobs, m.Config, m.Layers[1], m.Layers[2])
	}
	r.Stop()
	if *updateGCSamples {
		must(t, os.WriteFile("testdata/gc-dry-run.txt", dryRun(t, r), 0o644))
		must(t, os.WriteFile("testdata/gc-dry-run-delete-untagged.txt", dryRun(t, r, "--delete-untagged"), 0o644))
	}

	refused, err := oci.GCPreflight(t.Context(), r.Config(), oci.GCPreflightOptions{Flags: []string{"--delete-untagged"}})
	must(t, err)
	wantLost := []oci.LostImage{{Repo: "app", Tag: "multi", Digest: idx.Digest,
		Manifests: sortedDigests(children...), Blobs: sortedDigests(lostBlobs...)}}
	if diff := cmp.Diff(wantLost, refused.Lost); diff != "" || refused.Status != job.StatusFailed {
		t.Errorf("--delete-untagged: status %s (want failed), would break (-want +got):\n%s", refused.Status, diff)
	}

	plain, err := oci.GCPreflight(t.Context(), r.Config(), oci.GCPreflightOptions{})
	must(t, err)
	wantFreed := gone.Size + goneM.Config.Size + goneM.Layers[1].Size
	if plain.Status != job.StatusOK || len(plain.Lost) != 0 || plain.FreedBytes != wantFreed {
		t.Errorf("plain: status %s, would break %v, frees %d bytes; want ok, nothing, %d bytes", plain.Status, plain.Lost, plain.FreedBytes, wantFreed)
	}
	if got, want := plain.Plan.Blobs, sortedDigests(gone, goneM.Config, goneM.Layers[1]); !cmp.Equal(sortedStrings(got), want) {
		t.Errorf("plain plan blobs %v, want %v", got, want)
	}

	// The scan agrees, before any collection, on what a plain one frees.
	before := scan(t, r.Root(), oci.ScanOptions{})
	if before.Summary.PlainGCBytes != wantFreed || before.Status != job.StatusOK {
		t.Errorf("scan before: status %s, plain GC frees %d bytes, want ok and %d", before.Status, before.Summary.PlainGCBytes, wantFreed)
	}
	// Accepted means safe: after the plain collection every tag is whole.
	r.GarbageCollect(t)
	if after := scan(t, r.Root(), oci.ScanOptions{}); after.Status != job.StatusOK || after.Summary.UnreachableBlobs != 0 {
		t.Errorf("after a plain garbage-collect: status %s, %d unreachable blobs; want ok, 0", after.Status, after.Summary.UnreachableBlobs)
	}
	// Refused meant it: the collection with --delete-untagged breaks app:multi.
	r.GarbageCollect(t, "--delete-untagged")
	after := scan(t, r.Root(), oci.ScanOptions{})
	if len(after.Broken) != 1 || after.Broken[0].Subject() != "app:multi" {
		t.Errorf("after garbage-collect --delete-untagged: broken %+v, want app:multi", after.Broken)
	}
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestRegistryStorageRoot(t *testing.T) {
	t.Parallel()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY" {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name, config, env, want, wantErr string
	}{
		{name: "filesystem", config: "version: 0.1\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: /srv/registry\n  delete:\n    enabled: true\n", want: "/srv/registry"},
		{name: "default root", config: "storage:\n  filesystem: {}\n", want: oci.DefaultRegistryRoot},
		{name: "empty filesystem section", config: "storage:\n  filesystem:\n", want: oci.DefaultRegistryRoot},
		{name: "env overrides", config: "storage:\n  filesystem:\n    rootdirectory: /a\n", env: "/b", want: "/b"},
		{name: "s3", config: "storage:\n  s3:\n    bucket: x\n", wantErr: "storage driver s3: only the filesystem driver"},
		{name: "no storage", config: "version: 0.1\n", wantErr: "no storage driver"},
		{name: "not yaml", config: "storage: [", wantErr: "unusable registry config"},
		{name: "rootdirectory not a string", config: "storage:\n  filesystem:\n    rootdirectory: [1]\n", wantErr: "storage.filesystem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := oci.RegistryStorageRoot([]byte(tc.config), env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// Children also tagged in another repository keep their blobs, but
// --delete-untagged still deletes their revision links in the index's
// repository: refused, naming the manifests and no blobs; after the real
// collection the scan finds the children unlinked, their blobs whole.
func TestGCPreflightChildrenTaggedElsewhere(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	idx, children := pushMulti(t, p, "app", "multi", false, false)
	for i, arch := range []string{"amd64", "arm64"} {
		d := pushImage(t, p, "base", arch, image("app:multi/"+arch, "debian", 3, &oci.Platform{OS: "linux", Architecture: arch}))
		if d.Digest != children[i].Digest {
			t.Fatalf("base:%s is %s, want the same manifest as app:multi's child %s", arch, d.Digest, children[i].Digest)
		}
	}
	r.Stop()
	rep, err := oci.GCPreflight(t.Context(), r.Config(), oci.GCPreflightOptions{Flags: []string{"--delete-untagged"}})
	must(t, err)
	want := []oci.LostImage{{Repo: "app", Tag: "multi", Digest: idx.Digest, Manifests: sortedDigests(children...)}}
	if diff := cmp.Diff(want, rep.Lost); diff != "" || rep.Status != job.StatusFailed {
		t.Errorf("status %s (want failed), would break (-want +got):\n%s", rep.Status, diff)
	}

	r.GarbageCollect(t, "--delete-untagged")
	after := scan(t, r.Root(), oci.ScanOptions{})
	unlinked := func(d oci.Descriptor) oci.Problem {
		return oci.Problem{Kind: oci.KindChildManifest, State: oci.StateUnlinked, Digest: d.Digest, Platform: d.Platform.String(),
			Message: "blob data present, but no revision link in this repository"}
	}
	wantBroken := []oci.BrokenImage{{Repo: "app", Tag: "multi", Digest: idx.Digest, Problems: sortedProblems(unlinked(children[0]), unlinked(children[1]))}}
	if diff := cmp.Diff(wantBroken, after.Broken); diff != "" {
		t.Errorf("after the collection, broken (-want +got):\n%s", diff)
	}
}
