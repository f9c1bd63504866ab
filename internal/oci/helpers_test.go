package oci_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// client returns an anonymous plain-HTTP client for host.
func client(t testing.TB, host string, opts oci.Options) *oci.Client {
	t.Helper()
	reg, err := oci.ParseRegistry(host, true)
	if err != nil {
		t.Fatal(err)
	}
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = 10_000_000 // 10 ms: tests must not wait
	}
	c, err := oci.NewClient(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// image is deterministic content for one image: a config and n layers,
// the first of which is a base layer shared by every image with the same base.
func image(name, base string, n int, pl *oci.Platform) oci.Image {
	img := oci.Image{Config: fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","labops":%q}`, name), Platform: pl}
	img.Layers = append(img.Layers, fmt.Appendf(nil, "base layer %s", base))
	for i := 1; i < n; i++ {
		img.Layers = append(img.Layers, fmt.Appendf(nil, "layer %d of %s", i, name))
	}
	return img
}

func pushImage(t testing.TB, p *oci.Pusher, repo, tag string, img oci.Image) oci.Descriptor {
	t.Helper()
	d, err := p.PushImage(context.Background(), repo, tag, img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// pushMulti pushes a two-platform index under tag whose children are
// untagged (as buildx and crane leave them) unless childTags is set.
func pushMulti(t testing.TB, p *oci.Pusher, repo, tag string, childTags bool, docker bool) (index oci.Descriptor, children []oci.Descriptor) {
	t.Helper()
	for _, arch := range []string{"amd64", "arm64"} {
		ct := ""
		if childTags {
			ct = tag + "-" + arch
		}
		img := image(repo+":"+tag+"/"+arch, "debian", 3, &oci.Platform{OS: "linux", Architecture: arch})
		img.Docker = docker
		children = append(children, pushImage(t, p, repo, ct, img))
	}
	d, err := p.PushIndex(context.Background(), repo, tag, children, docker)
	if err != nil {
		t.Fatal(err)
	}
	return d, children
}

func startRegistry(t *testing.T, opts labtest.RegistryOptions) (*labtest.Registry, *oci.Pusher) {
	t.Helper()
	r := labtest.StartRegistry(t, opts)
	return r, oci.NewPusher(client(t, r.Host(), oci.Options{}))
}
