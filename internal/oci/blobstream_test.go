package oci_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// flipByte flips one byte in the middle of a blob's data file on disk.
func flipByte(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBlobStream(t *testing.T) {
	t.Parallel()
	src, sp := startRegistry(t, labtest.RegistryOptions{})
	dst, _ := startRegistry(t, labtest.RegistryOptions{})
	sc := client(t, src.Host(), oci.Options{})
	dc := client(t, dst.Host(), oci.Options{})
	dp := oci.NewPusher(dc)
	ctx := t.Context()

	big := make([]byte, 5<<20+17) // several reads, not a round size
	for i := range big {
		big[i] = byte(rand.N(256))
	}
	bigD, err := sp.PushBlob(ctx, "src", oci.MediaTypeOCILayer, big)
	if err != nil {
		t.Fatal(err)
	}
	emptyD, err := sp.PushBlob(ctx, "src", oci.MediaTypeOCILayer, nil)
	if err != nil {
		t.Fatal(err)
	}
	badD, err := sp.PushBlob(ctx, "src", oci.MediaTypeOCILayer, bytes.Repeat([]byte("corrupt me "), 1000))
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, src.BlobData(badD.Digest))

	copyBlob := func(d oci.Descriptor) error {
		rc, err := sc.OpenBlob(ctx, "src", d)
		if err != nil {
			return err
		}
		defer rc.Close()
		return dp.PushBlobFrom(ctx, "dst", d, rc)
	}

	for _, d := range []oci.Descriptor{bigD, emptyD} {
		if ok, err := dp.BlobExists(ctx, "dst", d); err != nil || ok {
			t.Fatalf("before the copy: exists %v, %v", ok, err)
		}
		if err := copyBlob(d); err != nil {
			t.Fatalf("copying %d bytes: %v", d.Size, err)
		}
		if ok, err := dp.BlobExists(ctx, "dst", d); err != nil || !ok {
			t.Fatalf("after the copy: exists %v, %v", ok, err)
		}
	}
	got, err := dc.GetBlob(ctx, "dst", bigD, 10<<20)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("copied blob differs (err %v)", err)
	}

	t.Run("corrupt source", func(t *testing.T) {
		err := copyBlob(badD)
		if !errors.Is(err, oci.ErrDigestMismatch) {
			t.Fatalf("err %v, want ErrDigestMismatch", err)
		}
		if oci.StatusOf(err) != 200 {
			t.Errorf("status %d, want the source's 200 in a StatusError", oci.StatusOf(err))
		}
		if ok, _ := dp.BlobExists(ctx, "dst", badD); ok {
			t.Error("the corrupt blob reached the destination")
		}
		// Read alone, the reader never hands out the whole wrong blob.
		rc, err := sc.OpenBlob(ctx, "src", badD)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		n, err := io.Copy(io.Discard, rc)
		if !errors.Is(err, oci.ErrDigestMismatch) || n >= badD.Size {
			t.Errorf("read %d of %d bytes, err %v", n, badD.Size, err)
		}
	})
	t.Run("short source", func(t *testing.T) {
		d := bigD
		d.Size++ // the descriptor promises a byte the registry does not have
		rc, err := sc.OpenBlob(ctx, "src", d)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.Copy(io.Discard, rc); !errors.Is(err, oci.ErrSizeMismatch) {
			t.Errorf("err %v, want ErrSizeMismatch", err)
		}
		d.Size -= 2
		rc2, err := sc.OpenBlob(ctx, "src", d)
		if err != nil {
			t.Fatal(err)
		}
		defer rc2.Close()
		if _, err := io.Copy(io.Discard, rc2); !errors.Is(err, oci.ErrSizeMismatch) {
			t.Errorf("longer body: err %v, want ErrSizeMismatch", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		d := oci.Descriptor{Digest: oci.Digest([]byte("never pushed")), Size: 12}
		if _, err := sc.OpenBlob(ctx, "src", d); !errors.Is(err, oci.ErrNotFound) {
			t.Errorf("err %v, want ErrNotFound", err)
		}
	})
	t.Run("mount", func(t *testing.T) {
		ok, err := dp.MountBlob(ctx, "other", "dst", bigD)
		if err != nil || !ok {
			t.Fatalf("mount from a repo that has it: %v, %v", ok, err)
		}
		if ok, err := dp.BlobExists(ctx, "other", bigD); err != nil || !ok {
			t.Errorf("after the mount: exists %v, %v", ok, err)
		}
		ok, err = dp.MountBlob(ctx, "third", "nowhere", bigD)
		if err != nil || ok {
			t.Errorf("mount from a repo without it: %v, %v; want false, nil", ok, err)
		}
	})
}
