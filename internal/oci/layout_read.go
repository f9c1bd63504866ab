package oci

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
)

// ErrBadArchive means a file is not a whole, valid OCI image layout
// archive: a corrupt blob, a missing piece, or not a layout at all.
var ErrBadArchive = errors.New("bad OCI layout archive")

// An archive is untrusted input (it may come from anywhere, and disks rot):
// these bound what reading one holds in memory.
const (
	maxLayoutMarker      = 4 << 10
	maxLayoutIndex       = maxManifestSize
	maxLayoutManifestMem = 64 << 20 // manifest bodies, all together
	maxLayoutEntries     = 1 << 16
)

// layoutContents is what readLayout found in an archive. Every blob in
// Blobs was hashed and matched its name and size.
type layoutContents struct {
	Index     layoutIndex
	Blobs     map[string]int64          // digest → size, manifests included
	Manifests map[string]*GraphManifest // the blobs that parse as manifests, with their bodies
	// FileSHA256 is the hex sha256 of the file's raw bytes, as a
	// sha256sum sidecar holds it; FileSize their count.
	FileSHA256 string
	FileSize   int64
	Gzipped    bool
}

// blobFunc is handed each blob that is not a manifest, as readLayout
// meets it. r yields the blob's bytes and ends in an error instead of EOF
// if they do not match d (the last chunk is withheld until they do); the
// function may read all of r, part of it or none. d has no media type.
type blobFunc func(d Descriptor, r io.Reader) error

// readLayout reads a layout archive, gzipped or not, in one pass: every
// blob is hashed and checked against its name, manifests are kept (they
// are small) and every other blob goes to onBlob (nil: none). Then the
// structure is checked: oci-layout and index.json present, and everything
// index.json reaches (child manifests, configs, layers) present with the
// size its descriptor says. Any problem with the archive is ErrBadArchive;
// onBlob's errors are returned as they are.
func readLayout(r io.Reader, onBlob blobFunc) (*layoutContents, error) {
	raw := &countingHash{h: sha256.New()}
	br := bufio.NewReaderSize(io.TeeReader(r, raw), 64<<10)
	lc := &layoutContents{Blobs: map[string]int64{}, Manifests: map[string]*GraphManifest{}}
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, badArchive("gzip header: %v", err)
		}
		lc.Gzipped = true
		src = zr
	}
	lr := &layoutReader{lc: lc, onBlob: onBlob, seen: map[string]bool{}}
	if err := lr.entries(tar.NewReader(src)); err != nil {
		return nil, err
	}
	// The rest of the stream: a gzip member's checksum is only checked at
	// its end, and the file's hash must cover every byte.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return nil, badArchive("after the tar: %v", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	lc.FileSHA256 = hex.EncodeToString(raw.h.Sum(nil))
	lc.FileSize = raw.n
	if !lr.marker {
		return nil, badArchive("no %s file", layoutMarkerFile)
	}
	if lr.index == nil {
		return nil, badArchive("no %s", layoutIndexFile)
	}
	if err := lc.parseIndex(lr.index); err != nil {
		return nil, err
	}
	for _, d := range lc.Index.Manifests {
		if _, _, err := lc.graph(d.descriptor()); err != nil {
			return nil, err
		}
	}
	return lc, nil
}

func badArchive(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadArchive, fmt.Sprintf(format, args...))
}

type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

type layoutReader struct {
	lc          *layoutContents
	onBlob      blobFunc
	seen        map[string]bool
	marker      bool
	index       []byte
	manifestMem int
}

func (lr *layoutReader) entries(tr *tar.Reader) error {
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return badArchive("reading the tar: %v", err)
		}
		if n >= maxLayoutEntries {
			return badArchive("more than %d entries", maxLayoutEntries)
		}
		name, ok := cleanEntryName(hdr.Name)
		if !ok {
			return badArchive("entry %q: not a relative path inside the layout", hdr.Name)
		}
		if name == "." || hdr.Typeflag == tar.TypeDir {
			continue
		}
		inBlobs := strings.HasPrefix(name, layoutBlobsDir+"/")
		if name != layoutMarkerFile && name != layoutIndexFile && !inBlobs {
			continue // not part of the layout; tools may add files
		}
		if hdr.Typeflag != tar.TypeReg {
			return badArchive("%s: not a regular file (tar type %q)", name, hdr.Typeflag)
		}
		if isSparse(hdr) {
			return badArchive("%s: a sparse file (its holes could claim any size)", name)
		}
		if lr.seen[name] {
			return badArchive("%s: twice in the tar", name)
		}
		lr.seen[name] = true
		switch {
		case name == layoutMarkerFile:
			err = lr.readMarker(tr, hdr.Size)
		case name == layoutIndexFile:
			lr.index, err = readSmall(tr, hdr.Size, maxLayoutIndex, name)
		default:
			err = lr.blob(tr, name, hdr.Size)
		}
		if err != nil {
			return err
		}
	}
}

// isSparse reports whether a tar entry is a GNU sparse file in PAX form
// (the old GNU form has a type of its own).
func isSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// cleanEntryName turns a tar entry name into a clean relative path ("."
// for the root), refusing absolute paths and any ".." component.
func cleanEntryName(name string) (string, bool) {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
		return "", false
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false
		}
	}
	return path.Clean(name), true
}

func readSmall(r io.Reader, size, limit int64, name string) ([]byte, error) {
	if size > limit {
		return nil, badArchive("%s: %d bytes, more than the %d allowed", name, size, limit)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, badArchive("reading %s: %v", name, err)
	}
	return b, nil
}

func (lr *layoutReader) readMarker(r io.Reader, size int64) error {
	b, err := readSmall(r, size, maxLayoutMarker, layoutMarkerFile)
	if err != nil {
		return err
	}
	var m layoutMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return badArchive("%s: %v", layoutMarkerFile, err)
	}
	if m.ImageLayoutVersion != layoutVersion {
		return badArchive("%s: imageLayoutVersion %q, want %q", layoutMarkerFile, m.ImageLayoutVersion, layoutVersion)
	}
	lr.marker = true
	return nil
}

// blob reads blobs/<alg>/<encoded>.
func (lr *layoutReader) blob(r io.Reader, name string, size int64) error {
	rest := strings.TrimPrefix(name, layoutBlobsDir+"/")
	alg, enc, ok := strings.Cut(rest, "/")
	digest := alg + ":" + enc
	if !ok || !ValidDigest(digest) {
		return badArchive("%s: not a blob name (blobs/sha256/<64 hex>)", name)
	}
	h, err := newDigester(digest)
	if err != nil {
		return badArchive("%s: %v", name, err)
	}
	d := Descriptor{Digest: digest, Size: size}
	if size <= maxManifestSize {
		body, err := io.ReadAll(r)
		if err != nil {
			return badArchive("reading %s: %v", name, err)
		}
		if err := verifyDigest(digest, body); err != nil {
			return badArchive("blob %s is corrupt: %v", digest, err)
		}
		if m := asManifest(body); m != nil {
			lr.manifestMem += len(body)
			if lr.manifestMem > maxLayoutManifestMem {
				return badArchive("more than %d bytes of manifests", maxLayoutManifestMem)
			}
			d.MediaType = m.MediaType
			lr.lc.Manifests[digest] = &GraphManifest{Descriptor: d, Body: body, Manifest: m}
		} else if lr.onBlob != nil {
			if err := lr.onBlob(d, bytes.NewReader(body)); err != nil {
				return err
			}
		}
		lr.lc.Blobs[digest] = size
		return nil
	}
	vr := &verifyingReader{r: r, h: h, d: d}
	if lr.onBlob != nil {
		if err := lr.onBlob(d, vr); err != nil {
			if vr.err != nil && vr.err != io.EOF {
				return vr.err // the blob's own fault, whatever onBlob made of it
			}
			return err
		}
	}
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return err
	}
	lr.lc.Blobs[digest] = size
	return nil
}

// asManifest returns body parsed when it is an image manifest or index.
func asManifest(body []byte) *Manifest {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil
	}
	m, err := ParseManifest("", body)
	if err != nil {
		return nil
	}
	return m
}

// verifyingReader passes a tar entry's bytes through, hashing them; it
// withholds the last chunk until the whole blob matches its digest, and
// ends in ErrBadArchive instead of EOF when it does not.
type verifyingReader struct {
	r   io.Reader
	h   hash.Hash
	d   Descriptor
	n   int64
	err error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.d.Size {
		v.err = badArchive("blob %s: more than its %d bytes", v.d.Digest, v.d.Size)
		return 0, v.err
	}
	if v.n == v.d.Size && (n > 0 || err == io.EOF) {
		if got := hashString(v.d.Digest, v.h.Sum(nil)); got != v.d.Digest {
			v.err = badArchive("blob %s is corrupt: %v: content is %s", v.d.Digest, ErrDigestMismatch, got)
			return 0, v.err
		}
		v.err = io.EOF
		return n, io.EOF
	}
	if err == io.EOF {
		v.err = badArchive("blob %s: %v: %d bytes, its entry says %d", v.d.Digest, ErrSizeMismatch, v.n, v.d.Size)
		return 0, v.err
	}
	if err != nil {
		v.err = badArchive("reading blob %s: %v", v.d.Digest, err)
		return 0, v.err
	}
	return n, nil
}

func (lc *layoutContents) parseIndex(body []byte) error {
	var raw struct {
		SchemaVersion int             `json:"schemaVersion"`
		Manifests     json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return badArchive("%s: %v", layoutIndexFile, err)
	}
	if raw.SchemaVersion != 2 {
		return badArchive("%s: schemaVersion %d, want 2", layoutIndexFile, raw.SchemaVersion)
	}
	if err := json.Unmarshal(body, &lc.Index); err != nil {
		return badArchive("%s: %v", layoutIndexFile, err)
	}
	if len(lc.Index.Manifests) == 0 {
		return badArchive("%s names no image", layoutIndexFile)
	}
	if len(lc.Index.Manifests) > maxGraphManifests {
		return badArchive("%s names more than %d images", layoutIndexFile, maxGraphManifests)
	}
	for i, d := range lc.Index.Manifests {
		if err := checkDescriptor(d.descriptor()); err != nil {
			return badArchive("%s: manifests[%d]: %v", layoutIndexFile, i, err)
		}
	}
	return nil
}

// graph returns everything root reaches in the archive: its manifests,
// children before their index and root last, and its distinct configs and
// layers. Anything missing, or of another size than its descriptor says,
// is ErrBadArchive.
func (lc *layoutContents) graph(root Descriptor) ([]GraphManifest, []Descriptor, error) {
	w := &layoutGraph{lc: lc, seen: map[string]bool{}, blobSeen: map[string]bool{}}
	if err := w.manifest(root, 0, "index.json"); err != nil {
		return nil, nil, err
	}
	return w.manifests, w.blobs, nil
}

type layoutGraph struct {
	lc        *layoutContents
	seen      map[string]bool
	blobSeen  map[string]bool
	manifests []GraphManifest
	blobs     []Descriptor
}

func (w *layoutGraph) manifest(d Descriptor, depth int, parent string) error {
	if w.seen[d.Digest] {
		return nil
	}
	w.seen[d.Digest] = true
	if len(w.seen) > maxGraphManifests {
		return badArchive("more than %d manifests in one image", maxGraphManifests)
	}
	m, ok := w.lc.Manifests[d.Digest]
	if !ok {
		if _, isBlob := w.lc.Blobs[d.Digest]; isBlob {
			return badArchive("manifest %s (named by %s) is not a manifest labops can read", d.Digest, parent)
		}
		return badArchive("manifest %s (named by %s) is missing", d.Digest, parent)
	}
	if m.Size != d.Size {
		return badArchive("manifest %s: %d bytes, %s says %d", d.Digest, m.Size, parent, d.Size)
	}
	gm := GraphManifest{Descriptor: d, Body: m.Body, Manifest: m.Manifest}
	if gm.MediaType == "" {
		gm.MediaType = m.Manifest.MediaType
	}
	if m.Manifest.IsIndex() {
		if depth >= maxGraphDepth {
			return badArchive("index %s: indexes nested deeper than %d", d.Digest, maxGraphDepth)
		}
		for _, c := range m.Manifest.Manifests {
			if err := w.manifest(c, depth+1, "index "+d.Digest); err != nil {
				return err
			}
		}
	} else {
		for _, b := range append([]Descriptor{m.Manifest.Config}, m.Manifest.Layers...) {
			size, ok := w.lc.Blobs[b.Digest]
			switch {
			case !ok:
				return badArchive("blob %s (of manifest %s) is missing", b.Digest, d.Digest)
			case size != b.Size:
				return badArchive("blob %s: %d bytes, manifest %s says %d", b.Digest, size, d.Digest, b.Size)
			}
			if !w.blobSeen[b.Digest] {
				w.blobSeen[b.Digest] = true
				w.blobs = append(w.blobs, b)
			}
		}
	}
	w.manifests = append(w.manifests, gm)
	return nil
}
