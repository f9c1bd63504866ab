package oci_test

import (
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// archiveSources seeds r with the three shapes of image an archive must
// carry whole: a two-platform OCI index with untagged children, a Docker
// manifest list, and a plain image. It returns repo → tag.
func archiveSources(t *testing.T, p *oci.Pusher) map[string]string {
	t.Helper()
	pushMulti(t, p, "multi/oci", "v1", false, false)
	pushMulti(t, p, "multi/docker", "v1", false, true)
	pushImage(t, p, "plain", "v1", image("plain", "alpine", 2, nil))
	return map[string]string{"multi/oci": "v1", "multi/docker": "v1", "plain": "v1"}
}

// clock returns a clock that starts at t0 and moves a minute per call.
func clock(t0 time.Time) func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n) * time.Minute)
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Archive each shape, check the files, import the archive with skopeo,
// restore it with labops into another repository, and find the same root
// digest everywhere.
func TestArchiveRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	skopeo := labtest.Need(t, "skopeo", "skopeo")
	r, p := startRegistry(t, labtest.RegistryOptions{})
	c := client(t, r.Host(), oci.Options{})
	for repo, tag := range archiveSources(t, p) {
		t.Run(strings.ReplaceAll(repo, "/", "-"), func(t *testing.T) {
			ctx := t.Context()
			src, err := c.GetManifest(ctx, repo, tag)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			res := oci.Archive(ctx, c, repo, tag, oci.ArchiveOptions{Dir: dir})
			if res.Status != job.StatusOK {
				t.Fatalf("archive: %s: %s", res.Status, res.Error)
			}
			if res.Digest != src.Digest || !res.Verified || res.Archives != 1 {
				t.Errorf("result: digest %s verified %v archives %d; want %s, true, 1", res.Digest, res.Verified, res.Archives, src.Digest)
			}
			if want := strings.ReplaceAll(repo, "/", "-") + "_"; !strings.HasPrefix(res.Name, want) || !strings.HasSuffix(res.Name, "_"+strings.TrimPrefix(src.Digest, "sha256:")[:12]+".tar.gz") {
				t.Errorf("name %s: want %s<time>_<12 hex of %s>.tar.gz", res.Name, want, src.Digest)
			}
			// The sidecar is what sha256sum says, and sha256sum -c agrees.
			side, err := os.ReadFile(res.Path + ".sha256")
			if err != nil {
				t.Fatal(err)
			}
			if want := sha256File(t, res.Path) + "  " + res.Name + "\n"; string(side) != want {
				t.Errorf("sidecar %q, want %q", side, want)
			}
			cmd := exec.Command("sha256sum", "-c", res.Name+".sha256")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sha256sum -c: %v\n%s", err, out)
			}
			if target, err := os.Readlink(filepath.Join(dir, "latest")); err != nil || target != res.Name {
				t.Errorf("latest -> %q (%v), want %s", target, err, res.Name)
			}

			// skopeo reads it, by file and by file:tag.
			out, err := exec.CommandContext(ctx, skopeo, "inspect", "--raw", "oci-archive:"+res.Path).Output()
			if err != nil {
				t.Fatalf("skopeo inspect: %v\n%s", err, stderrOf(err))
			}
			if oci.Digest(out) != src.Digest {
				t.Errorf("skopeo inspect --raw: digest %s, want %s", oci.Digest(out), src.Digest)
			}
			// skopeo 1.9 finds an image by name (FILE:TAG) only when
			// index.json gives it an OCI media type; FILE alone takes the
			// archive's only image whatever its type.
			sources := []string{"oci-archive:" + res.Path}
			if !strings.Contains(src.ContentType, "docker") {
				sources = append(sources, "oci-archive:"+res.Path+":"+tag)
			}
			for i, from := range sources {
				to := "skopeo" + itoa(i) + "/" + repo
				if out, err := exec.CommandContext(ctx, skopeo, "--insecure-policy", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
					from, "docker://"+r.Host()+"/"+to+":"+tag).CombinedOutput(); err != nil {
					t.Fatalf("skopeo copy %s: %v\n%s", from, err, out)
				}
				if got, err := c.GetManifest(ctx, to, tag); err != nil || got.Digest != src.Digest {
					t.Errorf("after skopeo copy %s: %v, digest %v, want %s", from, err, got.Digest, src.Digest)
				}
			}

			// labops restores it into another repository, whole.
			dst := oci.Reference{Registry: c.Registry(), Repo: "restored/" + repo, Tag: tag}
			rr := oci.Restore(ctx, c, filepath.Join(dir, "latest"), dst, oci.RestoreOptions{})
			if rr.Status != job.StatusOK {
				t.Fatalf("restore: %s: %s", rr.Status, rr.Error)
			}
			if rr.Digest != src.Digest || rr.Sidecar == "" || rr.BlobsPushed == 0 || rr.Check == nil || rr.Check.Summary.Blobs == 0 {
				t.Errorf("restore result: %+v", rr)
			}
			if got, err := c.GetManifest(ctx, dst.Repo, tag); err != nil || got.Digest != src.Digest {
				t.Errorf("restored %s: %v, digest %v, want %s", dst, err, got, src.Digest)
			}
			// Again: nothing left to push.
			again := oci.Restore(ctx, c, res.Path, dst, oci.RestoreOptions{})
			if again.Status != job.StatusOK || again.BlobsPushed != 0 || again.BlobsSkipped != rr.BlobsPushed+rr.BlobsSkipped {
				t.Errorf("second restore: %s pushed %d skipped %d (%s)", again.Status, again.BlobsPushed, again.BlobsSkipped, again.Error)
			}
		})
	}
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// labops restores what skopeo archived (uncompressed, no sidecar), and an
// uncompressed copy of its own archive.
func TestRestoreForeignAndUncompressedArchives(t *testing.T) {
	t.Parallel()
	skopeo := labtest.Need(t, "skopeo", "skopeo")
	r, p := startRegistry(t, labtest.RegistryOptions{})
	c := client(t, r.Host(), oci.Options{})
	ctx := t.Context()
	idx, _ := pushMulti(t, p, "app", "v2", false, false)
	dir := t.TempDir()

	skopeoTar := filepath.Join(dir, "skopeo.tar")
	if out, err := exec.CommandContext(ctx, skopeo, "--insecure-policy", "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
		"docker://"+r.Host()+"/app:v2", "oci-archive:"+skopeoTar+":v2").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy to oci-archive: %v\n%s", err, out)
	}
	rr := oci.Restore(ctx, c, skopeoTar, oci.Reference{Registry: c.Registry(), Repo: "from-skopeo", Tag: "v2"}, oci.RestoreOptions{})
	if rr.Status != job.StatusOK || rr.Digest != idx.Digest || rr.Sidecar != "" {
		t.Errorf("restore of skopeo's archive: %s (%s), digest %s want %s, sidecar %q", rr.Status, rr.Error, rr.Digest, idx.Digest, rr.Sidecar)
	}

	res := oci.Archive(ctx, c, "app", "v2", oci.ArchiveOptions{Dir: dir})
	if res.Status != job.StatusOK {
		t.Fatalf("archive: %s", res.Error)
	}
	plain := filepath.Join(dir, "plain.tar")
	gunzip(t, res.Path, plain)
	rr = oci.Restore(ctx, c, plain, oci.Reference{Registry: c.Registry(), Repo: "from-tar", Tag: "v2"}, oci.RestoreOptions{})
	if rr.Status != job.StatusOK || rr.Digest != idx.Digest {
		t.Errorf("restore of the uncompressed archive: %s (%s), digest %s", rr.Status, rr.Error, rr.Digest)
	}
}

func gunzip(t *testing.T, from, to string) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
}

// A bad archive never becomes a tag: a sidecar that does not match, or a
// corrupt blob, fails the restore before any manifest is pushed.
func TestRestoreRefusesBadArchive(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	c := client(t, r.Host(), oci.Options{})
	ctx := t.Context()
	pushImage(t, p, "app", "v1", image("app", "alpine", 2, nil))
	dir := t.TempDir()
	res := oci.Archive(ctx, c, "app", "v1", oci.ArchiveOptions{Dir: dir})
	if res.Status != job.StatusOK {
		t.Fatalf("archive: %s", res.Error)
	}
	// A wrong sidecar.
	if err := os.WriteFile(res.Path+".sha256", []byte(strings.Repeat("0", 64)+"  "+res.Name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rr := oci.Restore(ctx, c, res.Path, oci.Reference{Registry: c.Registry(), Repo: "bad-sidecar", Tag: "v1"}, oci.RestoreOptions{})
	if rr.Status != job.StatusFailed || !strings.Contains(rr.Error, "its sidecar") {
		t.Errorf("wrong sidecar: %s: %s", rr.Status, rr.Error)
	}
	if _, err := c.GetManifest(ctx, "bad-sidecar", "v1"); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("a refused archive became a tag: %v", err)
	}
	// A layer with one byte flipped, in an uncompressed copy.
	plain := filepath.Join(dir, "flipped.tar")
	gunzip(t, res.Path, plain)
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "layer 1 of app")
	if i < 0 {
		t.Fatal("layer not found in the tar")
	}
	b[i] ^= 0x20
	if err := os.WriteFile(plain, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rr = oci.Restore(ctx, c, plain, oci.Reference{Registry: c.Registry(), Repo: "flipped", Tag: "v1"}, oci.RestoreOptions{})
	if rr.Status != job.StatusFailed || !strings.Contains(rr.Error, "corrupt") {
		t.Errorf("flipped byte: %s: %s", rr.Status, rr.Error)
	}
	if _, err := c.GetManifest(ctx, "flipped", "v1"); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("a corrupt archive became a tag: %v", err)
	}
}

func TestArchiveKeepPrunesOldestOwnArchives(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	c := client(t, r.Host(), oci.Options{})
	ctx := t.Context()
	pushImage(t, p, "team/app", "v1", image("team/app", "alpine", 2, nil))
	pushImage(t, p, "team-app", "v1", image("team-app", "alpine", 2, nil))
	dir := t.TempDir()
	// Files that look like archives but are not this repository's, or not
	// labops': never deleted, never counted.
	foreign := []string{
		"other_20200101T000000Z_0123456789ab.tar.gz",
		"team-app_20200101T000000Z_0123456789ab.tar.gz", // not gzip: not provably labops'
		"team-app_20200101T000000Z_0123456789ab.tar.gz.sha256",
		"notes.txt",
	}
	for _, f := range foreign {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("not mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Temp files a killed run left: each repository's old one goes with
	// its own next run, a fresh one (a run in progress) stays.
	const staleAge = 24 * time.Hour
	stale, otherStale := ".team-app_20200101T000000Z_0123456789ab.tar.gz.tmp-1", ".team-app_20200101T000000Z_0123456789ab.tar.gz.tmp-3"
	for _, tmp := range []struct {
		name, repo string
		age        time.Duration
	}{
		{stale, "team/app", 48 * time.Hour},
		{".team-app_20200101T000000Z_0123456789ab.tar.gz.tmp-2", "team/app", time.Hour},
		{otherStale, "team-app", 48 * time.Hour},
	} {
		writeGzip(t, filepath.Join(dir, tmp.name), "labops oci archive: repository="+tmp.repo+" tag=v1 digest=x")
		old := time.Now().Add(-tmp.age)
		if err := os.Chtimes(filepath.Join(dir, tmp.name), old, old); err != nil {
			t.Fatal(err)
		}
		if tmp.age < staleAge {
			foreign = append(foreign, tmp.name)
		}
	}
	now := clock(time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC))
	var names []string
	for range 5 {
		res := oci.Archive(ctx, c, "team/app", "v1", oci.ArchiveOptions{Dir: dir, Keep: 3, Now: now})
		if res.Status != job.StatusOK {
			t.Fatalf("archive: %s", res.Error)
		}
		names = append(names, res.Name)
	}
	if _, err := os.Stat(filepath.Join(dir, stale)); err == nil {
		t.Errorf("team/app's stale temp file %s is still there", stale)
	}
	if _, err := os.Stat(filepath.Join(dir, otherStale)); err != nil {
		t.Errorf("team/app's run removed team-app's temp file: %v", err)
	}
	// team-app shares team/app's file name prefix: its archives are its own.
	other := oci.Archive(ctx, c, "team-app", "v1", oci.ArchiveOptions{Dir: dir, Keep: 1, Now: now})
	if other.Status != job.StatusOK || len(other.Pruned) != 0 || other.Archives != 1 {
		t.Fatalf("team-app: %s pruned %v archives %d (%s)", other.Status, other.Pruned, other.Archives, other.Error)
	}
	res := oci.Archive(ctx, c, "team/app", "v1", oci.ArchiveOptions{Dir: dir, Keep: 3, Now: now})
	if res.Status != job.StatusOK || res.Archives != 3 {
		t.Fatalf("archive: %s archives %d (%s)", res.Status, res.Archives, res.Error)
	}
	names = append(names, res.Name)
	want := append(slices.Clone(foreign), LatestOr(t, dir))
	for _, n := range names[3:] {
		want = append(want, n, n+".sha256")
	}
	want = append(want, other.Name, other.Name+".sha256")
	got := listDir(t, dir)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("dir holds\n  %v\nwant\n  %v", got, want)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "latest")); target != res.Name {
		t.Errorf("latest -> %s, want %s", target, res.Name)
	}
}

func writeGzip(t *testing.T, path, comment string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Comment = comment
	if _, err := zw.Write([]byte("partial tar")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// LatestOr is the name of the latest link, checked to exist.
func LatestOr(t *testing.T, dir string) string {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(dir, "latest")); err != nil {
		t.Fatal(err)
	}
	return "latest"
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// dirState is every entry of a directory: its type and its content's hash
// or link target.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[e.Name()] = "-> " + target
		case e.Type().IsRegular():
			out[e.Name()] = sha256File(t, p)
		default:
			out[e.Name()] = e.Type().String()
		}
	}
	return out
}

func sameDir(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s changed: %q, was %q", what, k, after[k], v)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: left %s behind", what, k)
		}
	}
}

// Every failure leaves the directory exactly as it was: previous archives,
// sidecars and latest untouched, no temp file left.
func TestArchiveFailureLeavesDirectoryAlone(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	c := client(t, r.Host(), oci.Options{Retries: -1})
	ctx := t.Context()
	pushImage(t, p, "app", "v1", image("app", "alpine", 2, nil))
	corrupt := image("corrupt", "busybox", 2, nil)
	pushImage(t, p, "app", "corrupt", corrupt)
	// One byte flipped in the stored data of a layer only the corrupt
	// image has: the registry serves it as it is.
	layer := oci.Digest(corrupt.Layers[1])
	data, err := os.ReadFile(r.BlobData(layer))
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 1
	if err := os.WriteFile(r.BlobData(layer), data, 0o644); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	now := clock(time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC))
	for range 2 {
		if res := oci.Archive(ctx, c, "app", "v1", oci.ArchiveOptions{Dir: dir, Keep: 5, Now: now}); res.Status != job.StatusOK {
			t.Fatalf("archive: %s", res.Error)
		}
	}
	before := dirState(t, dir)
	down := client(t, "127.0.0.1:1", oci.Options{Retries: -1})
	for _, tc := range []struct {
		name   string
		c      *oci.Client
		tag    string
		opts   oci.ArchiveOptions
		status job.Status
		want   string
	}{
		{"corrupt source blob", c, "corrupt", oci.ArchiveOptions{}, job.StatusFailed, "digest mismatch"},
		{"missing tag", c, "nope", oci.ArchiveOptions{}, job.StatusFailed, "not found"},
		{"unreachable registry", down, "v1", oci.ArchiveOptions{}, job.StatusIncomplete, "connection refused"},
		{"write error", c, "v1", oci.WithArchiveWriter(oci.ArchiveOptions{}, failAfter(600, errors.New("injected: no space left on device"))), job.StatusIncomplete, "injected: no space left on device"},
	} {
		tc.opts.Dir, tc.opts.Keep, tc.opts.Now = dir, 1, now
		res := oci.Archive(ctx, tc.c, "app", tc.tag, tc.opts)
		if res.Status != tc.status || !strings.Contains(res.Error, tc.want) {
			t.Errorf("%s: %s %q, want %s mentioning %q", tc.name, res.Status, res.Error, tc.status, tc.want)
		}
		if res.Path != "" || len(res.Pruned) != 0 {
			t.Errorf("%s: path %q pruned %v after a failure", tc.name, res.Path, res.Pruned)
		}
		sameDir(t, tc.name, before, dirState(t, dir))
	}

	// A file where the directory should be.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := oci.Archive(ctx, c, "app", "v1", oci.ArchiveOptions{Dir: notDir}); res.Status != job.StatusIncomplete || !strings.Contains(res.Error, "not a directory") {
		t.Errorf("dir is a file: %s %q", res.Status, res.Error)
	}
}

// failAfter is a writer wrapper that fails once n bytes went through.
func failAfter(n int, err error) func(io.Writer) io.Writer {
	return func(w io.Writer) io.Writer { return &failingWriter{w: w, left: n, err: err} }
}

type failingWriter struct {
	w    io.Writer
	left int
	err  error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n, _ := f.w.Write(p[:f.left])
		f.left = 0
		return n, f.err
	}
	f.left -= len(p)
	return f.w.Write(p)
}

// A real full disk and a real read-only directory, on a small tmpfs (root
// only; the injected write error above covers the rest).
func TestArchiveFullDiskAndReadOnlyDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	r, p := startRegistry(t, labtest.RegistryOptions{})
	c := client(t, r.Host(), oci.Options{Retries: -1})
	ctx := t.Context()
	pushImage(t, p, "app", "small", image("app", "alpine", 2, nil))
	big := make([]byte, 2<<20) // incompressible, twice the disk
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	pushImage(t, p, "app", "big", oci.Image{Config: []byte(`{"os":"linux"}`), Layers: [][]byte{big}})
	now := clock(time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC))
	for range 2 {
		if res := oci.Archive(ctx, c, "app", "small", oci.ArchiveOptions{Dir: dir, Now: now}); res.Status != job.StatusOK {
			t.Fatalf("archive: %s", res.Error)
		}
	}
	before := dirState(t, dir)
	res := oci.Archive(ctx, c, "app", "big", oci.ArchiveOptions{Dir: dir, Keep: 1, Now: now})
	if res.Status != job.StatusIncomplete || !strings.Contains(res.Error, "no space left on device") {
		t.Errorf("full disk: %s %q", res.Status, res.Error)
	}
	sameDir(t, "full disk", before, dirState(t, dir))

	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	res = oci.Archive(ctx, c, "app", "small", oci.ArchiveOptions{Dir: dir, Keep: 1, Now: now})
	if res.Status != job.StatusIncomplete || !strings.Contains(res.Error, "read-only file system") {
		t.Errorf("read-only dir: %s %q", res.Status, res.Error)
	}
	sameDir(t, "read-only dir", before, dirState(t, dir))
}
