package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// seedArchive starts registry:2 with a two-platform index app:v1 (its
// children untagged) and an image app:corrupt whose layer has a flipped
// byte on disk.
func seedArchive(t *testing.T) (*labtest.Registry, *oci.Client, oci.Descriptor) {
	t.Helper()
	r, c, p := startRegistry(t, oci.Options{Retries: -1})
	ctx := t.Context()
	var children []oci.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := p.PushImage(ctx, "app", "", oci.Image{Config: []byte(`{"architecture":"` + arch + `","os":"linux"}`),
			Layers: [][]byte{[]byte("base"), []byte("app for " + arch)}, Platform: &oci.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, d)
	}
	idx, err := p.PushIndex(ctx, "app", "v1", children, false)
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte("a layer that rots")
	if _, err := p.PushImage(ctx, "app", "corrupt", oci.Image{Config: []byte(`{"c":1}`), Layers: [][]byte{bad}}); err != nil {
		t.Fatal(err)
	}
	path := r.BlobData(oci.Digest(bad))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return r, c, idx
}

func TestOCIArchiveAndRestoreCommands(t *testing.T) {
	t.Parallel()
	r, c, idx := seedArchive(t)
	ctx := t.Context()
	dir := t.TempDir()

	code, stdout, stderr := run(t, ctx, dir, nil, "oci", "archive", r.URL()+"/app:v1", "--dir", dir, "--keep", "2")
	if code != 0 {
		t.Fatalf("archive: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"image " + r.Host() + "/app:v1 " + idx.Digest, "(linux/amd64, linux/arm64)", "read back: layout whole", "latest -> app_", "status: ok, 1 archives of app:v1 kept"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("archive output lacks %q:\n%s", want, stdout)
		}
	}
	var names []string
	for range 2 {
		code, stdout, stderr = run(t, ctx, dir, nil, "oci", "archive", r.URL()+"/app:v1", "--dir", dir, "--keep", "2", "--json")
		if code != 0 {
			t.Fatalf("archive --json: exit %d\n%s%s", code, stdout, stderr)
		}
		var res oci.ArchiveResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("--json: %v\n%s", err, stdout)
		}
		if res.Status != "ok" || res.Digest != idx.Digest || !res.Verified || res.Archives < 1 || res.Archives > 2 {
			t.Errorf("--json: %+v", res)
		}
		names = append(names, res.Name)
		// Runs within one second name the same file; the last replaces it.
		if matches, _ := filepath.Glob(filepath.Join(dir, "app_*.tar.gz")); len(matches) != res.Archives {
			t.Errorf("--keep 2 left %v, the run says %d", matches, res.Archives)
		}
	}

	// Restore latest into another repository, then check it is the same image.
	code, stdout, stderr = run(t, ctx, dir, nil, "oci", "restore", filepath.Join(dir, "latest"), r.URL()+"/restored/app:v1")
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"matches its sidecar", "every blob's digest verified", "status: ok, " + r.Host() + "/restored/app:v1 restored and whole"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("restore output lacks %q:\n%s", want, stdout)
		}
	}
	if fm, err := c.GetManifest(ctx, "restored/app", "v1"); err != nil || fm.Digest != idx.Digest {
		t.Errorf("restored: %v, want digest %s", err, idx.Digest)
	}
	code, stdout, _ = run(t, ctx, dir, nil, "oci", "compare", r.URL()+"/app:v1", r.URL()+"/restored/app:v1")
	if code != 0 {
		t.Errorf("oci compare source and restored: exit %d\n%s", code, stdout)
	}

	// A sidecar that does not match: exit 1, nothing tagged.
	last := filepath.Join(dir, names[len(names)-1])
	if err := os.WriteFile(last+".sha256", []byte(strings.Repeat("f", 64)+"  "+filepath.Base(last)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run(t, ctx, dir, nil, "oci", "restore", last, r.URL()+"/refused:v1")
	if code != 1 || !strings.Contains(stdout, "its sidecar") {
		t.Errorf("restore with a wrong sidecar: exit %d, want 1\n%s", code, stdout)
	}
	if _, err := c.GetManifest(ctx, "refused", "v1"); err == nil {
		t.Error("a refused archive became a tag")
	}
}

func TestOCIArchiveExitCodes(t *testing.T) {
	t.Parallel()
	r, _, _ := seedArchive(t)
	ctx := t.Context()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"corrupt source blob", []string{"oci", "archive", r.URL() + "/app:corrupt", "--dir", dir}, 1, "status: failed, the source image is not whole"},
		{"missing tag", []string{"oci", "archive", r.URL() + "/app:nope", "--dir", dir}, 1, "not found"},
		{"dir is a file", []string{"oci", "archive", r.URL() + "/app:v1", "--dir", notDir}, 3, "not a directory"},
		{"unreachable", []string{"oci", "archive", "http://127.0.0.1:1/app:v1", "--dir", dir, "--request-timeout", "2s"}, 3, "connection refused"},
		{"no dir", []string{"oci", "archive", r.URL() + "/app:v1"}, 2, "--dir is required"},
		{"keep 0", []string{"oci", "archive", r.URL() + "/app:v1", "--dir", dir, "--keep", "0"}, 2, "--keep 0"},
		{"digest only", []string{"oci", "archive", r.URL() + "/app@sha256:" + strings.Repeat("a", 64), "--dir", dir}, 2, "needs a tag"},
		{"restore missing file", []string{"oci", "restore", filepath.Join(dir, "nope.tar.gz"), r.URL() + "/app:v2"}, 2, "ARCHIVE"},
		{"restore not an archive", []string{"oci", "restore", notDir, r.URL() + "/app:v2"}, 1, "no oci-layout file"},
	} {
		code, stdout, stderr := run(t, ctx, dir, nil, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d mentioning %q\nstdout:\n%s\nstderr:\n%s", tc.name, code, tc.code, tc.want, stdout, stderr)
		}
	}
	// No failure left anything in the directory but the file put there.
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("failures left files behind: %v", es)
	}
	for _, args := range [][]string{{"oci", "archive", "--help"}, {"oci", "restore", "--help"}} {
		code, stdout, _ := run(t, ctx, dir, nil, args...)
		if code != 0 || !strings.Contains(stdout, "EXIT STATUS") {
			t.Errorf("%v: exit %d, no exit codes in help", args, code)
		}
	}
}
