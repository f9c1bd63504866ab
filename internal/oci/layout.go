package oci

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// An OCI image layout (image-spec image-layout.md) as one tar stream: the
// format `labops oci archive` writes and `labops oci restore` reads, and
// the one skopeo, podman and buildah call oci-archive. The tar holds
//
//	oci-layout            {"imageLayoutVersion":"1.0.0"}
//	index.json            an index naming the image, with its tag in the
//	                      org.opencontainers.image.ref.name annotation
//	blobs/<alg>/<hex>     every manifest, config and layer, by digest
//
// layout.go writes it; layout_read.go reads it back.

const (
	layoutMarkerFile = "oci-layout"
	layoutIndexFile  = "index.json"
	layoutBlobsDir   = "blobs"
	layoutVersion    = "1.0.0"

	// AnnotationRefName names an image in a layout's index.json: the tag
	// `skopeo copy oci-archive:FILE:TAG` looks for.
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// layoutMarker is the oci-layout file.
type layoutMarker struct {
	ImageLayoutVersion string `json:"imageLayoutVersion"`
}

// layoutIndex is index.json.
type layoutIndex struct {
	SchemaVersion int                `json:"schemaVersion"`
	MediaType     string             `json:"mediaType,omitempty"`
	Manifests     []layoutDescriptor `json:"manifests"`
}

// layoutDescriptor is a descriptor of index.json, with its annotations.
type layoutDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func (d layoutDescriptor) descriptor() Descriptor {
	return Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Platform: d.Platform}
}

// RefName is the descriptor's org.opencontainers.image.ref.name, or "".
func (d layoutDescriptor) RefName() string { return d.Annotations[AnnotationRefName] }

// blobPath is a blob's path in a layout: blobs/<alg>/<encoded>.
func blobPath(digest string) (string, error) {
	if !ValidDigest(digest) {
		return "", fmt.Errorf("%q is not a digest", digest)
	}
	if _, err := newDigester(digest); err != nil {
		return "", err
	}
	alg, enc, _ := strings.Cut(digest, ":")
	return layoutBlobsDir + "/" + alg + "/" + enc, nil
}

// layoutWriter writes a layout as a tar stream: writeIndex first, then
// each blob once, then close. It verifies every blob's size and digest as
// it writes it, so a wrong byte from the source fails the archive instead
// of landing in it.
type layoutWriter struct {
	tw    *tar.Writer
	mtime time.Time
	dirs  map[string]bool
	blobs map[string]bool
}

func newLayoutWriter(w io.Writer, mtime time.Time) *layoutWriter {
	return &layoutWriter{tw: tar.NewWriter(w), mtime: mtime.UTC().Truncate(time.Second), dirs: map[string]bool{}, blobs: map[string]bool{}}
}

// writeIndex writes oci-layout and an index.json naming root as refName.
func (lw *layoutWriter) writeIndex(root Descriptor, refName string) error {
	marker, err := json.Marshal(layoutMarker{ImageLayoutVersion: layoutVersion})
	if err != nil {
		return err
	}
	if err := lw.file(layoutMarkerFile, marker); err != nil {
		return err
	}
	idx := layoutIndex{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []layoutDescriptor{{
		MediaType: root.MediaType, Digest: root.Digest, Size: root.Size, Platform: root.Platform,
		Annotations: map[string]string{AnnotationRefName: refName},
	}}}
	body, err := marshalNoEscape(idx)
	if err != nil {
		return err
	}
	return lw.file(layoutIndexFile, body)
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func (lw *layoutWriter) file(name string, body []byte) error {
	if err := lw.tw.WriteHeader(lw.header(name, int64(len(body)))); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := lw.tw.Write(body); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func (lw *layoutWriter) header(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: lw.mtime, Format: tar.FormatPAX}
}

func (lw *layoutWriter) dir(name string) error {
	if lw.dirs[name] {
		return nil
	}
	lw.dirs[name] = true
	h := &tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: lw.mtime, Format: tar.FormatPAX}
	if err := lw.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing %s/: %w", name, err)
	}
	return nil
}

// has reports whether the blob d is already written.
func (lw *layoutWriter) has(digest string) bool { return lw.blobs[digest] }

// writeBlob writes d's d.Size bytes from r under blobs/, checking that r
// holds exactly that many and that they hash to d.Digest. A blob already
// written is skipped (r is not read).
func (lw *layoutWriter) writeBlob(d Descriptor, r io.Reader) error {
	if lw.blobs[d.Digest] {
		return nil
	}
	p, err := blobPath(d.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("blob %s: negative size %d", d.Digest, d.Size)
	}
	if err := lw.dir(layoutBlobsDir); err != nil {
		return err
	}
	if err := lw.dir(p[:strings.LastIndexByte(p, '/')]); err != nil {
		return err
	}
	if err := lw.tw.WriteHeader(lw.header(p, d.Size)); err != nil {
		return fmt.Errorf("writing blob %s: %w", d.Digest, err)
	}
	h, _ := newDigester(d.Digest)
	n, err := io.Copy(io.MultiWriter(lw.tw, h), io.LimitReader(r, d.Size))
	if err != nil {
		return fmt.Errorf("writing blob %s: %w", d.Digest, err)
	}
	if n < d.Size {
		return fmt.Errorf("blob %s: %w: read %d bytes, descriptor says %d", d.Digest, ErrSizeMismatch, n, d.Size)
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		return fmt.Errorf("blob %s: %w: more than the %d bytes the descriptor says", d.Digest, ErrSizeMismatch, d.Size)
	}
	if got := hashString(d.Digest, h.Sum(nil)); got != d.Digest {
		return fmt.Errorf("blob %s: %w: content is %s", d.Digest, ErrDigestMismatch, got)
	}
	lw.blobs[d.Digest] = true
	return nil
}

// close writes the tar's end; it does not close the underlying writer.
func (lw *layoutWriter) close() error {
	if err := lw.tw.Close(); err != nil {
		return fmt.Errorf("ending the tar: %w", err)
	}
	return nil
}

// hashString formats a finished hash as a digest of digest's algorithm.
func hashString(digest string, sum []byte) string {
	alg, _, _ := strings.Cut(digest, ":")
	return alg + ":" + hex.EncodeToString(sum)
}
