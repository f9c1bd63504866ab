package oci_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

func TestCompare(t *testing.T) {
	t.Parallel()
	ra, pa := startRegistry(t, labtest.RegistryOptions{})
	rb, pb := startRegistry(t, labtest.RegistryOptions{})
	ca, cb := client(t, ra.Host(), oci.Options{}), client(t, rb.Host(), oci.Options{})
	ctx := t.Context()
	amd := &oci.Platform{OS: "linux", Architecture: "amd64"}
	arm := &oci.Platform{OS: "linux", Architecture: "arm64"}
	s390 := &oci.Platform{OS: "linux", Architecture: "s390x"}

	// The same two-platform index pushed to both: identical.
	for _, p := range []*oci.Pusher{pa, pb} {
		pushMulti(t, p, "app", "same", false, false)
	}
	// B has a third platform.
	var kidsA, kidsB []oci.Descriptor
	for _, pl := range []*oci.Platform{amd, arm} {
		kidsA = append(kidsA, pushImage(t, pa, "app", "", image("multi/"+pl.Architecture, "debian", 2, pl)))
		kidsB = append(kidsB, pushImage(t, pb, "app", "", image("multi/"+pl.Architecture, "debian", 2, pl)))
	}
	kidsB = append(kidsB, pushImage(t, pb, "app", "", image("multi/s390x", "debian", 2, s390)))
	for _, x := range []struct {
		p    *oci.Pusher
		kids []oci.Descriptor
	}{{pa, kidsA}, {pb, kidsB}} {
		if _, err := x.p.PushIndex(ctx, "app", "platforms", x.kids, false); err != nil {
			t.Fatal(err)
		}
	}
	// One layer differs (the third of three); the config is the same.
	imgA := image("plain", "debian", 3, nil)
	imgB := image("plain", "debian", 3, nil)
	imgB.Layers[2] = []byte("a rebuilt layer")
	pushImage(t, pa, "app", "layer", imgA)
	pushImage(t, pb, "app", "layer", imgB)
	// An OCI index against a Docker manifest list of the same images.
	pushMulti(t, pa, "app", "kind", false, false)
	pushMulti(t, pb, "app", "kind", false, true)

	ref := func(c *oci.Client, tag string) oci.Reference {
		return oci.Reference{Registry: c.Registry(), Repo: "app", Tag: tag}
	}
	ignoreDigests := cmpopts.IgnoreFields(oci.Difference{}, "A", "B", "Message")
	for _, tc := range []struct {
		tag    string
		status job.Status
		want   []oci.Difference
	}{
		{"same", job.StatusOK, []oci.Difference{}},
		{"platforms", job.StatusFailed, []oci.Difference{{Kind: oci.DiffOnlyInB, Platform: "linux/s390x"}}},
		{"layer", job.StatusFailed, []oci.Difference{{Kind: oci.DiffLayer}}},
		{"kind", job.StatusFailed, []oci.Difference{
			{Kind: oci.DiffMediaType},
			{Kind: oci.DiffChild, Platform: "linux/amd64"}, {Kind: oci.DiffMediaType, Platform: "linux/amd64"},
			{Kind: oci.DiffChild, Platform: "linux/arm64"}, {Kind: oci.DiffMediaType, Platform: "linux/arm64"},
		}},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			c := oci.Compare(ctx, ca, cb, ref(ca, tc.tag), ref(cb, tc.tag))
			if c.Status != tc.status || c.Same != (tc.status == job.StatusOK) {
				t.Errorf("status %s same %v (%s), want %s", c.Status, c.Same, c.Error, tc.status)
			}
			if diff := cmp.Diff(tc.want, c.Differences, ignoreDigests); diff != "" {
				t.Errorf("differences (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("layer message", func(t *testing.T) {
		c := oci.Compare(ctx, ca, cb, ref(ca, "layer"), ref(cb, "layer"))
		want := fmt.Sprintf("layer 3 differs: A %s (%d bytes), B %s (%d bytes)", oci.Digest(imgA.Layers[2]), len(imgA.Layers[2]), oci.Digest(imgB.Layers[2]), len(imgB.Layers[2]))
		if len(c.Differences) != 1 || c.Differences[0].Message != want {
			t.Errorf("differences %+v", c.Differences)
		}
	})
	t.Run("missing", func(t *testing.T) {
		c := oci.Compare(ctx, ca, cb, ref(ca, "same"), ref(cb, "nope"))
		if c.Status != job.StatusFailed || !c.B.Missing || c.A.Missing || c.Error != "B ("+ref(cb, "nope").String()+") does not exist" {
			t.Errorf("%s %q, A %+v, B %+v", c.Status, c.Error, c.A, c.B)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		down := client(t, labtest.FreeAddr(t), oci.Options{Retries: -1})
		c := oci.Compare(ctx, ca, down, ref(ca, "same"), ref(down, "same"))
		if c.Status != job.StatusIncomplete {
			t.Errorf("%s %q, want incomplete", c.Status, c.Error)
		}
	})
}
