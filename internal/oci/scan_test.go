package oci_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// scanSeed is a registry:2 tree made by the real registry: team/app:v1, a
// two-platform OCI index with untagged children, and plain:v1, a plain
// image; both share the "debian" base layer. The registry is stopped.
type scanSeed struct {
	r        *labtest.Registry
	p        *oci.Pusher
	index    oci.Descriptor
	children []oci.Descriptor
	childM   []*oci.Manifest
	plain    oci.Descriptor
	plainM   *oci.Manifest
}

func seedScan(t *testing.T) *scanSeed {
	t.Helper()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	s := &scanSeed{r: r, p: p}
	s.index, s.children = pushMulti(t, p, "team/app", "v1", false, false)
	for _, c := range s.children {
		s.childM = append(s.childM, s.manifest(t, c.Digest))
	}
	s.plain = pushImage(t, p, "plain", "v1", image("plain:v1", "debian", 2, nil))
	s.plainM = s.manifest(t, s.plain.Digest)
	return s
}

// manifest reads a manifest blob straight from disk.
func (s *scanSeed) manifest(t *testing.T, d string) *oci.Manifest {
	t.Helper()
	b, err := os.ReadFile(s.r.BlobData(d))
	if err != nil {
		t.Fatal(err)
	}
	m, err := oci.ParseManifest("", b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// repoPath is a path below a repository's directory.
func (s *scanSeed) repoPath(repo string, parts ...string) string {
	return filepath.Join(append([]string{s.r.Root(), "docker/registry/v2/repositories", repo}, parts...)...)
}

func linkPath(s *scanSeed, repo, kind, digest string) string {
	dir := "_layers"
	if kind == oci.LinkRevision {
		dir = "_manifests/revisions"
	}
	alg, hex, _ := strings.Cut(digest, ":")
	return s.repoPath(repo, dir, alg, hex, "link")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// scanView is the part of a report a test compares.
type scanView struct {
	Status      job.Status
	Broken      []oci.BrokenImage
	Invalid     []oci.StoredManifest
	Dangling    []oci.DanglingLink
	Unreachable []oci.UnreachableBlob
	Uploads     []oci.Upload
	Refused     []oci.RefusedPath
}

func view(r *oci.ScanReport) scanView {
	return scanView{r.Status, r.Broken, r.InvalidManifests, r.DanglingLinks, r.Unreachable, r.Uploads, r.Refused}
}

func scan(t *testing.T, root string, opts oci.ScanOptions) *oci.ScanReport {
	t.Helper()
	rep, err := oci.Scan(t.Context(), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func unreachable(plainGC bool, ds ...oci.Descriptor) []oci.UnreachableBlob {
	var out []oci.UnreachableBlob
	for _, d := range ds {
		out = append(out, oci.UnreachableBlob{Digest: d.Digest, Size: d.Size, PlainGC: plainGC})
	}
	return out
}

var sortUnreachable = cmpopts.SortSlices(func(a, b oci.UnreachableBlob) bool { return a.Digest < b.Digest })

// TestScanDamage damages trees the real registry wrote, one way per case,
// and compares the whole report.
func TestScanDamage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, s *scanSeed) scanView
	}{
		{"healthy", func(t *testing.T, s *scanSeed) scanView {
			return scanView{Status: job.StatusOK}
		}},
		{"missing child manifest blob", func(t *testing.T, s *scanSeed) scanView {
			c := s.children[1]
			must(t, os.Remove(s.r.BlobData(c.Digest)))
			m := s.childM[1]
			return scanView{
				Status: job.StatusFailed,
				Broken: []oci.BrokenImage{{Repo: "team/app", Tag: "v1", Digest: s.index.Digest, Problems: []oci.Problem{
					{Kind: oci.KindChildManifest, State: oci.StateMissing, Digest: c.Digest, Platform: "linux/arm64", Message: "blob data gone"}}}},
				Dangling:    []oci.DanglingLink{{Repo: "team/app", Kind: oci.LinkRevision, Digest: c.Digest, State: oci.StateMissing, Message: "blob data gone", NeededBy: 1}},
				Unreachable: unreachable(true, m.Config, m.Layers[1], m.Layers[2]),
			}
		}},
		{"missing layer blobs", func(t *testing.T, s *scanSeed) scanView {
			m := s.childM[0]
			for _, l := range m.Layers[1:] {
				must(t, os.Remove(s.r.BlobData(l.Digest)))
			}
			lost := func(l oci.Descriptor) oci.Problem {
				return oci.Problem{Kind: oci.KindLayer, State: oci.StateMissing, Digest: l.Digest, Manifest: s.children[0].Digest, Platform: "linux/amd64", Message: "blob data gone"}
			}
			dangling := func(l oci.Descriptor) oci.DanglingLink {
				return oci.DanglingLink{Repo: "team/app", Kind: oci.LinkLayer, Digest: l.Digest, State: oci.StateMissing, Message: "blob data gone", NeededBy: 1}
			}
			return scanView{
				Status:   job.StatusFailed,
				Broken:   []oci.BrokenImage{{Repo: "team/app", Tag: "v1", Digest: s.index.Digest, Problems: sortedProblems(lost(m.Layers[1]), lost(m.Layers[2]))}},
				Dangling: sortedDangling(dangling(m.Layers[1]), dangling(m.Layers[2])),
			}
		}},
		{"dangling layer link no tag needs", func(t *testing.T, s *scanSeed) scanView {
			s.r.Start()
			d, err := s.p.PushBlob(t.Context(), "plain", oci.MediaTypeOCILayer, []byte("orphan layer"))
			must(t, err)
			s.r.Stop()
			must(t, os.Remove(s.r.BlobData(d.Digest)))
			return scanView{
				Status:   job.StatusOK,
				Dangling: []oci.DanglingLink{{Repo: "plain", Kind: oci.LinkLayer, Digest: d.Digest, State: oci.StateMissing, Message: "blob data gone"}},
			}
		}},
		{"dangling revision link", func(t *testing.T, s *scanSeed) scanView {
			s.r.Start()
			img := image("untagged", "alpine", 2, nil)
			d := pushImage(t, s.p, "plain", "", img)
			s.r.Stop()
			m := s.manifest(t, d.Digest)
			must(t, os.Remove(s.r.BlobData(d.Digest)))
			return scanView{
				Status:      job.StatusFailed,
				Dangling:    []oci.DanglingLink{{Repo: "plain", Kind: oci.LinkRevision, Digest: d.Digest, State: oci.StateMissing, Message: "blob data gone"}},
				Unreachable: unreachable(true, m.Config, m.Layers[0], m.Layers[1]),
			}
		}},
		{"tag whose current revision blob is gone", func(t *testing.T, s *scanSeed) scanView {
			must(t, os.Remove(s.r.BlobData(s.plain.Digest)))
			return scanView{
				Status: job.StatusFailed,
				Broken: []oci.BrokenImage{{Repo: "plain", Tag: "v1", Digest: s.plain.Digest, Problems: []oci.Problem{
					{Kind: oci.KindManifest, State: oci.StateMissing, Digest: s.plain.Digest, Message: "blob data gone"}}}},
				Dangling:    []oci.DanglingLink{{Repo: "plain", Kind: oci.LinkRevision, Digest: s.plain.Digest, State: oci.StateMissing, Message: "blob data gone", NeededBy: 1}},
				Unreachable: unreachable(true, s.plainM.Config, s.plainM.Layers[1]),
			}
		}},
		{"links missing for a child manifest and a config", func(t *testing.T, s *scanSeed) scanView {
			must(t, os.Remove(linkPath(s, "team/app", oci.LinkRevision, s.children[0].Digest)))
			must(t, os.Remove(linkPath(s, "plain", oci.LinkLayer, s.plainM.Config.Digest)))
			return scanView{
				Status: job.StatusFailed,
				Broken: []oci.BrokenImage{
					{Repo: "plain", Tag: "v1", Digest: s.plain.Digest, Problems: []oci.Problem{{Kind: oci.KindConfig, State: oci.StateUnlinked,
						Digest: s.plainM.Config.Digest, Message: "blob data present, but no layer link in this repository"}}},
					{Repo: "team/app", Tag: "v1", Digest: s.index.Digest, Problems: []oci.Problem{{Kind: oci.KindChildManifest, State: oci.StateUnlinked,
						Digest: s.children[0].Digest, Platform: "linux/amd64", Message: "blob data present, but no revision link in this repository"}}},
				},
			}
		}},
		{"an unlinked child still names the layers it lost", func(t *testing.T, s *scanSeed) scanView {
			// What --delete-untagged does to a child also kept elsewhere,
			// and then a layer gone too: only the disk can say which.
			c, m := s.children[1], s.childM[1]
			must(t, os.Remove(linkPath(s, "team/app", oci.LinkRevision, c.Digest)))
			must(t, os.Remove(s.r.BlobData(m.Layers[2].Digest)))
			return scanView{
				Status: job.StatusFailed,
				Broken: []oci.BrokenImage{{Repo: "team/app", Tag: "v1", Digest: s.index.Digest, Problems: []oci.Problem{
					{Kind: oci.KindChildManifest, State: oci.StateUnlinked, Digest: c.Digest, Platform: "linux/arm64", Message: "blob data present, but no revision link in this repository"},
					{Kind: oci.KindLayer, State: oci.StateMissing, Digest: m.Layers[2].Digest, Manifest: c.Digest, Platform: "linux/arm64", Message: "blob data gone"},
				}}},
				Dangling: []oci.DanglingLink{{Repo: "team/app", Kind: oci.LinkLayer, Digest: m.Layers[2].Digest, State: oci.StateMissing, Message: "blob data gone", NeededBy: 1}},
			}
		}},
		{"unparseable and corrupt manifests", func(t *testing.T, s *scanSeed) scanView {
			junk := []byte(`{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": "nope"}`)
			jd := oci.Digest(junk)
			must(t, os.MkdirAll(filepath.Dir(s.r.BlobData(jd)), 0o755))
			must(t, os.WriteFile(s.r.BlobData(jd), junk, 0o644))
			for _, p := range []string{linkPath(s, "plain", oci.LinkRevision, jd), s.repoPath("plain", "_manifests/tags/junk/current/link")} {
				must(t, os.MkdirAll(filepath.Dir(p), 0o755))
				must(t, os.WriteFile(p, []byte(jd), 0o644))
			}
			must(t, os.WriteFile(s.r.BlobData(s.plain.Digest), []byte(`{"schemaVersion":2}`), 0o644))
			invalid := "invalid manifest: json: cannot unmarshal string into Go struct field Manifest.layers of type []oci.Descriptor"
			corrupt := "digest mismatch: content is " + oci.Digest([]byte(`{"schemaVersion":2}`))
			out, err := exec.Command("docker-registry", "garbage-collect", "--dry-run", s.r.Config()).CombinedOutput()
			if err == nil || !strings.Contains(string(out), jd) {
				t.Errorf("garbage-collect --dry-run on an unparseable manifest: %v, want a failure naming %s:\n%s", err, jd, out)
			}
			return scanView{
				Status: job.StatusFailed,
				Broken: []oci.BrokenImage{
					{Repo: "plain", Tag: "junk", Digest: jd, Problems: []oci.Problem{{Kind: oci.KindManifest, State: oci.StateInvalid, Digest: jd, Message: invalid}}},
					{Repo: "plain", Tag: "v1", Digest: s.plain.Digest, Problems: []oci.Problem{{Kind: oci.KindManifest, State: oci.StateCorrupt, Digest: s.plain.Digest, Message: corrupt}}},
				},
				Invalid: sortedInvalid(
					oci.StoredManifest{Repo: "plain", Digest: jd, State: oci.StateInvalid, Message: invalid},
					oci.StoredManifest{Repo: "plain", Digest: s.plain.Digest, State: oci.StateCorrupt, Message: corrupt}),
				// garbage-collect reads {"schemaVersion":2} as an empty OCI
				// manifest, so it would take plain:v1's blobs, if it ran.
				Unreachable: unreachable(true, s.plainM.Config, s.plainM.Layers[1]),
			}
		}},
		{"half-written upload", func(t *testing.T, s *scanSeed) scanView {
			s.r.Start()
			id, started := startUpload(t, s, "team/app", "the first 26 bytes of a la")
			s.r.Stop()
			return scanView{Status: job.StatusOK, Uploads: []oci.Upload{{Repo: "team/app", ID: id, Started: started, Bytes: 26, Stale: true}}}
		}},
		{"symlinks are reported, never followed", func(t *testing.T, s *scanSeed) scanView {
			outside := t.TempDir()
			layer := s.plainM.Layers[1].Digest
			dir := filepath.Dir(s.r.BlobData(layer))
			must(t, os.Rename(dir, filepath.Join(outside, "moved")))
			must(t, os.Symlink(filepath.Join(outside, "moved"), dir))
			evil := s.repoPath("evil")
			must(t, os.Symlink("/", evil))
			rel := func(p string) string { r, _ := filepath.Rel(s.r.Root(), p); return r }
			return scanView{
				Status: job.StatusIncomplete,
				Refused: []oci.RefusedPath{
					{Path: rel(dir), Target: filepath.Join(outside, "moved"), Outside: true},
					{Path: rel(evil), Target: "/", Outside: true},
				},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := seedScan(t)
			s.r.Stop()
			want := tc.damage(t, s)
			rep := scan(t, s.r.Root(), oci.ScanOptions{Workers: 4, Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
			if diff := cmp.Diff(want, view(rep), cmpopts.EquateEmpty(), sortUnreachable); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func sortedProblems(ps ...oci.Problem) []oci.Problem {
	slices.SortFunc(ps, func(a, b oci.Problem) int { return strings.Compare(a.Digest, b.Digest) })
	return ps
}

func sortedDangling(ls ...oci.DanglingLink) []oci.DanglingLink {
	slices.SortFunc(ls, func(a, b oci.DanglingLink) int { return strings.Compare(a.Digest, b.Digest) })
	return ls
}

func sortedInvalid(ms ...oci.StoredManifest) []oci.StoredManifest {
	slices.SortFunc(ms, func(a, b oci.StoredManifest) int { return strings.Compare(a.Digest, b.Digest) })
	return ms
}

// startUpload starts a chunked upload to repo, sends one chunk, and leaves
// it unfinished; it returns the upload's id and start time as stored.
func startUpload(t *testing.T, s *scanSeed, repo, chunk string) (string, time.Time) {
	t.Helper()
	resp, err := http.Post(s.r.URL()+"/v2/"+repo+"/blobs/uploads/", "", nil)
	must(t, err)
	resp.Body.Close()
	loc, err := resp.Location()
	must(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, loc.String(), strings.NewReader(chunk))
	must(t, err)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH upload: %s", resp.Status)
	}
	id := filepath.Base(loc.Path)
	b, err := os.ReadFile(s.repoPath(repo, "_uploads", id, "startedat"))
	must(t, err)
	started, ok := oci.ParseStartedAt(b)
	if !ok {
		t.Fatalf("startedat %q", b)
	}
	return id, started
}

// TestScanUnreachable deletes one tag through the API (its manifest goes,
// as retention does it) and one by removing its directory (its manifest
// stays, untagged), and checks the exact reclaimable bytes, and that a
// real plain garbage-collect deletes exactly the blobs the scan said it
// would.
func TestScanUnreachable(t *testing.T) {
	t.Parallel()
	s := seedScan(t)
	v2 := pushImage(t, s.p, "plain", "v2", image("plain:v2", "debian", 3, nil))
	v3 := pushImage(t, s.p, "plain", "v3", image("plain:v3", "alpine", 1, nil))
	v2m, v3m := s.manifest(t, v2.Digest), s.manifest(t, v3.Digest)
	deleteManifest(t, s.r, "plain", v2.Digest)
	s.r.Stop()
	must(t, os.RemoveAll(s.repoPath("plain", "_manifests/tags/v3")))

	rep := scan(t, s.r.Root(), oci.ScanOptions{})
	want := append(unreachable(true, v2, v2m.Config, v2m.Layers[1], v2m.Layers[2]), unreachable(false, v3, v3m.Config, v3m.Layers[0])...)
	if diff := cmp.Diff(want, rep.Unreachable, sortUnreachable); diff != "" {
		t.Errorf("unreachable (-want +got):\n%s", diff)
	}
	plainGC := v2.Size + v2m.Config.Size + v2m.Layers[1].Size + v2m.Layers[2].Size
	all := plainGC + v3.Size + v3m.Config.Size + v3m.Layers[0].Size
	if rep.Summary.ReclaimableBytes != all || rep.Summary.PlainGCBytes != plainGC || rep.Summary.UnreachableBlobs != 7 || rep.Summary.PlainGCBlobs != 4 {
		t.Errorf("summary %+v: want 7 unreachable blobs, %d bytes; 4 and %d bytes for a plain garbage-collect", rep.Summary, all, plainGC)
	}
	if rep.Status != job.StatusOK {
		t.Errorf("status %s, want ok: unreachable blobs are not damage", rep.Status)
	}

	s.r.GarbageCollect(t)
	for _, u := range rep.Unreachable {
		_, err := os.Stat(s.r.BlobData(u.Digest))
		if gone := os.IsNotExist(err); gone != u.PlainGC {
			t.Errorf("after garbage-collect, blob %s gone=%v; the scan said plain GC deletes it: %v", u.Digest, gone, u.PlainGC)
		}
	}
	after := scan(t, s.r.Root(), oci.ScanOptions{})
	if after.Status != job.StatusOK || after.Summary.PlainGCBlobs != 0 || after.Summary.UnreachableBlobs != 3 {
		t.Errorf("after garbage-collect: %+v, want ok with only v3's 3 blobs unreachable", after.Summary)
	}
}
