package oci_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

func TestReadImageGraph(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	c := client(t, r.Host(), oci.Options{})
	ctx := t.Context()

	index, children := pushMulti(t, p, "app", "multi", false, false)
	plain := pushImage(t, p, "app", "plain", image("app:plain", "debian", 2, nil))
	// An index that lists one child twice, and a nested index.
	nested, err := p.PushIndex(ctx, "app", "nested", []oci.Descriptor{index, children[0], children[0]}, false)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("index", func(t *testing.T) {
		g, err := oci.ReadImageGraph(ctx, c, "app", "multi")
		if err != nil {
			t.Fatal(err)
		}
		if g.Root.Digest != index.Digest || g.Root.MediaType != oci.MediaTypeOCIIndex || g.Root.Size != index.Size {
			t.Errorf("root %+v, want %+v", g.Root, index)
		}
		var got []string
		for _, m := range g.Manifests {
			got = append(got, m.Digest)
			if oci.Digest(m.Body) != m.Digest || int64(len(m.Body)) != m.Size {
				t.Errorf("manifest %s: body does not match its descriptor", m.Digest)
			}
		}
		want := []string{children[0].Digest, children[1].Digest, index.Digest}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("manifest order (-want +got):\n%s", diff)
		}
		// 2 configs, the shared base layer once, 2 own layers each.
		if len(g.Blobs) != 2+1+2*2 {
			t.Errorf("%d blobs, want 7", len(g.Blobs))
		}
		if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, g.Platforms()); diff != "" {
			t.Errorf("platforms (-want +got):\n%s", diff)
		}
	})
	t.Run("plain", func(t *testing.T) {
		g, err := oci.ReadImageGraph(ctx, c, "app", plain.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Manifests) != 1 || g.Manifests[0].Digest != plain.Digest || len(g.Blobs) != 3 || g.Platforms() != nil {
			t.Errorf("graph %+v", g)
		}
	})
	t.Run("nested", func(t *testing.T) {
		g, err := oci.ReadImageGraph(ctx, c, "app", "nested")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range g.Manifests {
			got = append(got, m.Digest)
		}
		want := []string{children[0].Digest, children[1].Digest, index.Digest, nested.Digest}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("manifest order (-want +got):\n%s", diff)
		}
	})
	t.Run("missing tag", func(t *testing.T) {
		_, err := oci.ReadImageGraph(ctx, c, "app", "nope")
		if !errors.Is(err, oci.ErrNotFound) {
			t.Errorf("err %v, want ErrNotFound", err)
		}
	})
	t.Run("missing child", func(t *testing.T) {
		if err := c.DeleteManifest(ctx, "app", children[1].Digest); err != nil {
			t.Fatal(err)
		}
		_, err := oci.ReadImageGraph(ctx, c, "app", "multi")
		if !errors.Is(err, oci.ErrNotFound) || !bytes.Contains([]byte(err.Error()), []byte(children[1].Digest)) {
			t.Errorf("err %v, want ErrNotFound naming the child", err)
		}
	})
}
