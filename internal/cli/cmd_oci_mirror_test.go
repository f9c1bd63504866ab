package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// mirrorPair starts two registries and seeds the first with a two-platform
// index (untagged children), a Docker image and a second repository
// sharing its base layer.
func mirrorPair(t *testing.T) (src, dst *labtest.Registry) {
	t.Helper()
	src = labtest.StartRegistry(t, labtest.RegistryOptions{})
	dst = labtest.StartRegistry(t, labtest.RegistryOptions{})
	p := oci.NewPusher(ociClient(t, src))
	ctx := t.Context()
	var kids []oci.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := p.PushImage(ctx, "app", "", oci.Image{
			Config:   []byte(`{"architecture":"` + arch + `"}`),
			Layers:   [][]byte{[]byte("shared base"), []byte("app layer " + arch)},
			Platform: &oci.Platform{OS: "linux", Architecture: arch},
		})
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, d)
	}
	if _, err := p.PushIndex(ctx, "app", "v1", kids, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PushImage(ctx, "app", "docker", oci.Image{Config: []byte(`{"d":1}`), Layers: [][]byte{[]byte("shared base"), []byte("docker layer")}, Docker: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PushImage(ctx, "tool", "latest", oci.Image{Config: []byte(`{"t":1}`), Layers: [][]byte{[]byte("shared base")}}); err != nil {
		t.Fatal(err)
	}
	return src, dst
}

func ociClient(t *testing.T, r *labtest.Registry) *oci.Client {
	t.Helper()
	reg, err := oci.ParseRegistry(r.URL(), false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := oci.NewClient(reg, oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOCIMirrorCommand(t *testing.T) {
	t.Parallel()
	src, dst := mirrorPair(t)
	ctx, dir := t.Context(), t.TempDir()
	env := map[string]string{"HOME": dir}

	code, out, errs := run(t, ctx, dir, env, "oci", "mirror", src.URL(), dst.URL())
	if code != 0 || !strings.Contains(out, "3 to copy") || !strings.Contains(out, "dry run: nothing copied") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"copy    app:v1 -> app", "OCI index linux/amd64 linux/arm64", "copy    tool:latest -> tool"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if tags, err := ociClient(t, dst).Catalog(ctx, 0); err != nil || len(tags) != 0 {
		t.Fatalf("the dry run wrote to the destination: %v %v", tags, err)
	}

	code, out, errs = run(t, ctx, dir, env, "oci", "mirror", src.URL(), dst.URL(), "--apply", "--json", "--concurrency", "4")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	var res oci.MirrorResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Applied || res.Summary.TagsCopied != 3 || res.Summary.BlobsMounted == 0 || res.Check == nil || res.Check.Summary.BrokenImages != 0 {
		t.Errorf("apply summary %+v", res.Summary)
	}

	// The destination now answers every tag like the source.
	for _, ref := range []string{"app:v1", "app:docker", "tool:latest"} {
		code, out, _ := run(t, ctx, dir, env, "oci", "compare", src.Host()+"/"+ref, dst.Host()+"/"+ref, "--a-plain-http", "--b-plain-http")
		if code != 0 || !strings.Contains(out, "same: both resolve to sha256:") {
			t.Errorf("compare %s: exit %d\n%s", ref, code, out)
		}
	}
	code, out, _ = run(t, ctx, dir, env, "oci", "mirror", src.URL(), dst.URL(), "--apply")
	if code != 0 || !strings.Contains(out, "3 tags identical, 0 to copy") {
		t.Errorf("second run: exit %d\n%s", code, out)
	}

	// A destination tag the source lacks: --prune plans it, --apply deletes.
	p := oci.NewPusher(ociClient(t, dst))
	if _, err := p.PushImage(ctx, "tool", "stale", oci.Image{Config: []byte(`{"s":1}`), Layers: [][]byte{[]byte("stale")}}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, ctx, dir, env, "oci", "mirror", src.URL(), dst.URL(), "--prune", "--max-delete-share", "0.4")
	if code != 1 || !strings.Contains(out, "REFUSED tool") {
		t.Errorf("prune over the brake: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, ctx, dir, env, "oci", "mirror", src.URL(), dst.URL(), "--prune", "--apply")
	if code != 0 || !strings.Contains(out, "deleted tool:stale") {
		t.Errorf("prune: exit %d\n%s", code, out)
	}
}

func TestOCIMirrorCorruptSource(t *testing.T) {
	t.Parallel()
	src, dst := mirrorPair(t)
	ctx, dir := t.Context(), t.TempDir()
	path := src.BlobData(oci.Digest([]byte("docker layer")))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, ctx, dir, nil, "oci", "mirror", src.URL(), dst.URL(), "--apply")
	if code != 1 || !strings.Contains(out, "FAILED  app:docker") || !strings.Contains(out, "digest mismatch") || !strings.Contains(out, "copied: 2 tags") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestOCIMirrorAndCompareExitCodes(t *testing.T) {
	t.Parallel()
	src, dst := mirrorPair(t)
	ctx, dir := t.Context(), t.TempDir()
	down := "http://" + labtest.FreeAddr(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"force without prune", []string{"oci", "mirror", src.URL(), dst.URL(), "--force"}, 2, "go with --prune"},
		{"same place", []string{"oci", "mirror", src.URL(), src.URL()}, 2, "the same place"},
		{"bad pattern", []string{"oci", "mirror", src.URL(), dst.URL(), "--repo", "[x"}, 2, "--repo"},
		{"bad prefix", []string{"oci", "mirror", src.URL(), dst.URL() + "/Upper"}, 2, "DST"},
		{"password without user", []string{"oci", "mirror", src.URL(), dst.URL(), "--dst-password-file", "/x"}, 2, "DST: --password-file needs --username"},
		{"unreachable destination", []string{"oci", "mirror", src.URL(), down, "--request-timeout", "2s"}, 3, "incomplete"},
		{"compare differ", []string{"oci", "compare", src.Host() + "/app:v1", src.Host() + "/app:docker", "--a-plain-http", "--b-plain-http"}, 1, "A is OCI index of 2 platforms, B is Docker image"},
		{"compare missing", []string{"oci", "compare", src.Host() + "/app:v1", dst.Host() + "/app:v1", "--a-plain-http", "--b-plain-http"}, 1, "B (" + dst.Host() + "/app:v1) does not exist"},
		{"compare unreachable", []string{"oci", "compare", src.Host() + "/app:v1", strings.TrimPrefix(down, "http://") + "/app:v1", "--a-plain-http", "--b-plain-http"}, 3, "could not be reached"},
		{"compare bad ref", []string{"oci", "compare", "nohost", src.Host() + "/app:v1"}, 2, "REF_A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := run(t, ctx, dir, nil, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s\n%s", code, tc.code, tc.want, out, errs)
			}
		})
	}
}
