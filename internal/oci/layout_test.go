package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testImage is a two-platform OCI index built by hand: what ReadImageGraph
// would return, and the blob bytes behind it.
type testImage struct {
	graph ImageGraph
	data  map[string][]byte // digest → bytes, every config and layer
}

func newTestImage(t testing.TB) *testImage {
	t.Helper()
	ti := &testImage{data: map[string][]byte{}}
	blob := func(mt string, b []byte) Descriptor {
		d := Descriptor{MediaType: mt, Digest: Digest(b), Size: int64(len(b))}
		ti.data[d.Digest] = b
		return d
	}
	shared := blob(MediaTypeOCILayer, []byte("shared base layer"))
	var children []Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		m := &Manifest{SchemaVersion: 2, MediaType: MediaTypeOCIManifest,
			Config: blob(MediaTypeOCIConfig, fmt.Appendf(nil, `{"architecture":%q,"os":"linux"}`, arch)),
			Layers: []Descriptor{shared, blob(MediaTypeOCILayer, []byte("layer of "+arch))}}
		body, err := MarshalManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		d := Descriptor{MediaType: MediaTypeOCIManifest, Digest: Digest(body), Size: int64(len(body)), Platform: &Platform{OS: "linux", Architecture: arch}}
		children = append(children, d)
		ti.graph.Manifests = append(ti.graph.Manifests, GraphManifest{Descriptor: d, Body: body, Manifest: m})
		for _, b := range append([]Descriptor{m.Config}, m.Layers...) {
			if !containsDigest(ti.graph.Blobs, b.Digest) {
				ti.graph.Blobs = append(ti.graph.Blobs, b)
			}
		}
	}
	idx := &Manifest{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: children}
	body, err := MarshalManifest(idx)
	if err != nil {
		t.Fatal(err)
	}
	ti.graph.Root = Descriptor{MediaType: MediaTypeOCIIndex, Digest: Digest(body), Size: int64(len(body))}
	ti.graph.Manifests = append(ti.graph.Manifests, GraphManifest{Descriptor: ti.graph.Root, Body: body, Manifest: idx})
	ti.graph.Repo, ti.graph.Ref = "app", "1.0"
	return ti
}

func containsDigest(ds []Descriptor, digest string) bool {
	for _, d := range ds {
		if d.Digest == digest {
			return true
		}
	}
	return false
}

// archive writes the image as a layout tar, gzipped when gz.
func (ti *testImage) archive(t testing.TB, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	lw := newLayoutWriter(w, time.Unix(1_800_000_000, 0))
	if err := lw.writeIndex(ti.graph.Root, "1.0"); err != nil {
		t.Fatal(err)
	}
	for _, m := range ti.graph.Manifests {
		if err := lw.writeBlob(m.Descriptor, bytes.NewReader(m.Body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range ti.graph.Blobs {
		if err := lw.writeBlob(d, bytes.NewReader(ti.data[d.Digest])); err != nil {
			t.Fatal(err)
		}
	}
	if err := lw.close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestLayoutRoundTrip(t *testing.T) {
	t.Parallel()
	ti := newTestImage(t)
	for _, gz := range []bool{true, false} {
		data := ti.archive(t, gz)
		got := map[string][]byte{}
		lc, err := readLayout(bytes.NewReader(data), func(d Descriptor, r io.Reader) error {
			b, err := io.ReadAll(r)
			got[d.Digest] = b
			return err
		})
		if err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		sum := sha256.Sum256(data)
		if lc.FileSHA256 != hex.EncodeToString(sum[:]) || lc.FileSize != int64(len(data)) || lc.Gzipped != gz {
			t.Errorf("gzip %v: file sha256 %s size %d gzipped %v, want %x %d", gz, lc.FileSHA256, lc.FileSize, lc.Gzipped, sum, len(data))
		}
		if diff := cmp.Diff(ti.data, got); diff != "" {
			t.Errorf("gzip %v: blobs handed on (-want +got):\n%s", gz, diff)
		}
		if len(lc.Index.Manifests) != 1 || lc.Index.Manifests[0].RefName() != "1.0" || lc.Index.Manifests[0].Digest != ti.graph.Root.Digest {
			t.Fatalf("index.json: %+v", lc.Index)
		}
		ms, bs, err := lc.graph(ti.graph.Root)
		if err != nil {
			t.Fatal(err)
		}
		var gotOrder, wantOrder []string
		for i := range ms {
			gotOrder = append(gotOrder, ms[i].Digest)
			wantOrder = append(wantOrder, ti.graph.Manifests[i].Digest)
			if !bytes.Equal(ms[i].Body, ti.graph.Manifests[i].Body) {
				t.Errorf("manifest %s: body differs", ms[i].Digest)
			}
		}
		if diff := cmp.Diff(wantOrder, gotOrder); diff != "" {
			t.Errorf("manifest push order (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(ti.graph.Blobs, bs); diff != "" {
			t.Errorf("blobs (-want +got):\n%s", diff)
		}
	}
}

func TestLayoutWriterRefusesWrongBytes(t *testing.T) {
	t.Parallel()
	good := []byte("layer bytes")
	d := Descriptor{Digest: Digest(good), Size: int64(len(good))}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"flipped byte", []byte("layer bytez"), ErrDigestMismatch},
		{"short", good[:5], ErrSizeMismatch},
		{"long", append(append([]byte{}, good...), '!'), ErrSizeMismatch},
	} {
		lw := newLayoutWriter(io.Discard, time.Now())
		err := lw.writeBlob(d, bytes.NewReader(tc.data))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// tarEntry is one entry of a hand-made tar.
type tarEntry struct {
	name string
	typ  byte
	body string
	link string
}

func makeTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.link}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// entries returns the test image's layout as tar entries.
func (ti *testImage) entries(t testing.TB) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(ti.archive(t, false)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, tarEntry{name: h.Name, typ: h.Typeflag, body: string(b)})
	}
}

func TestReadLayoutRefusesBadArchives(t *testing.T) {
	t.Parallel()
	ti := newTestImage(t)
	layer := ti.graph.Blobs[len(ti.graph.Blobs)-1]
	layerPath, _ := blobPath(layer.Digest)
	child := ti.graph.Manifests[0]
	childPath, _ := blobPath(child.Digest)
	edit := func(f func([]tarEntry) []tarEntry) []byte {
		return makeTar(t, f(ti.entries(t)))
	}
	drop := func(name string) []byte {
		return edit(func(es []tarEntry) []tarEntry {
			var out []tarEntry
			for _, e := range es {
				if e.name != name {
					out = append(out, e)
				}
			}
			return out
		})
	}
	replace := func(name, body string) []byte {
		return edit(func(es []tarEntry) []tarEntry {
			for i := range es {
				if es[i].name == name {
					es[i].body = body
				}
			}
			return es
		})
	}
	add := func(e tarEntry) []byte {
		return edit(func(es []tarEntry) []tarEntry { return append(es, e) })
	}
	gz := ti.archive(t, true)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "no oci-layout file"},
		{"not a tar", []byte("hello, this is not a tar archive at all, just text............"), "reading the tar"},
		{"no oci-layout", drop(layoutMarkerFile), "no oci-layout file"},
		{"no index.json", drop(layoutIndexFile), "no index.json"},
		{"layout version", replace(layoutMarkerFile, `{"imageLayoutVersion":"2.0.0"}`), `imageLayoutVersion "2.0.0"`},
		{"index not json", replace(layoutIndexFile, `{`), "index.json: unexpected end of JSON input"},
		{"index names nothing", replace(layoutIndexFile, `{"schemaVersion":2,"manifests":[]}`), "index.json names no image"},
		{"index bad digest", replace(layoutIndexFile, `{"schemaVersion":2,"manifests":[{"digest":"sha256:xyz","size":1}]}`), "manifests[0]: digest"},
		{"missing layer", drop(layerPath), "blob " + layer.Digest + " (of manifest"},
		{"missing child", drop(childPath), "manifest " + child.Digest + " (named by index"},
		{"corrupt layer", replace(layerPath, strings.Repeat("x", int(layer.Size))), "blob " + layer.Digest + " is corrupt"},
		{"layer of another size", replace(layerPath, "x"), "is corrupt"},
		{"duplicate entry", add(tarEntry{name: layoutMarkerFile, body: `{"imageLayoutVersion":"1.0.0"}`}), "twice in the tar"},
		{"symlink blob", add(tarEntry{name: "blobs/sha256/" + strings.Repeat("a", 64), typ: tar.TypeSymlink, link: "/etc/passwd"}), "not a regular file"},
		{"path escape", add(tarEntry{name: "../../etc/x", body: "x"}), "not a relative path"},
		{"absolute path", add(tarEntry{name: "/etc/x", body: "x"}), "not a relative path"},
		{"bad blob name", add(tarEntry{name: "blobs/sha256/nothex", body: "x"}), "not a blob name"},
		{"unknown algorithm", add(tarEntry{name: "blobs/md5/0123", body: "x"}), "blobs/md5/0123"},
		{"truncated gzip", gz[:len(gz)-20], ErrBadArchive.Error()},
		{"gzip trailer corrupt", append(append([]byte{}, gz[:len(gz)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), ErrBadArchive.Error()},
	} {
		_, err := readLayout(bytes.NewReader(tc.data), nil)
		if !errors.Is(err, ErrBadArchive) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrBadArchive mentioning %q", tc.name, err, tc.want)
		}
	}
	// Files outside the layout are no concern of its.
	if _, err := readLayout(bytes.NewReader(add(tarEntry{name: "manifest.json", body: "[]"})), nil); err != nil {
		t.Errorf("an extra file outside the layout: %v", err)
	}
	if _, err := readLayout(bytes.NewReader(edit(func(es []tarEntry) []tarEntry {
		for i := range es {
			es[i].name = "./" + es[i].name
		}
		return es
	})), nil); err != nil {
		t.Errorf("names with ./ (as tar -C dir . writes them): %v", err)
	}
}

// A blob that fails verification reaches the consumer as an error in
// place of its last chunk, never as a complete wrong blob.
func TestReadLayoutWithholdsCorruptBlob(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789abcdef"), (maxManifestSize/16)+1024)
	d := Descriptor{Digest: Digest(big), Size: int64(len(big))}
	p, _ := blobPath(d.Digest)
	corrupt := append([]byte{}, big...)
	corrupt[len(corrupt)-1] ^= 1
	data := makeTar(t, []tarEntry{{name: p, body: string(corrupt)}})
	var got int
	_, err := readLayout(bytes.NewReader(data), func(_ Descriptor, r io.Reader) error {
		n, err := io.Copy(io.Discard, r)
		got = int(n)
		return err
	})
	if !errors.Is(err, ErrBadArchive) || !strings.Contains(err.Error(), "is corrupt") {
		t.Errorf("error %v, want a corrupt blob", err)
	}
	if got >= len(big) {
		t.Errorf("the consumer got all %d bytes of a corrupt blob", got)
	}
}

// The layout reader takes archives from anywhere: it must never panic,
// hang or accept a layout that does not hold together.
func FuzzReadLayout(f *testing.F) {
	ti := newTestImage(f)
	f.Add(ti.archive(f, true))
	f.Add(ti.archive(f, false))
	f.Add(makeTar(f, []tarEntry{{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`}, {name: "index.json", body: `{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:` + strings.Repeat("0", 64) + `","size":0}]}`}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		lc, err := readLayout(bytes.NewReader(data), func(d Descriptor, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		})
		if err != nil {
			if !errors.Is(err, ErrBadArchive) {
				t.Fatalf("error not ErrBadArchive: %v", err)
			}
			return
		}
		for _, d := range lc.Index.Manifests {
			ms, bs, err := lc.graph(d.descriptor())
			if err != nil {
				t.Fatalf("accepted, but its graph fails: %v", err)
			}
			for _, m := range ms {
				if Digest(m.Body) != m.Digest && m.Digest[:7] == "sha256:" {
					t.Fatalf("manifest %s: body does not match", m.Digest)
				}
			}
			for _, b := range bs {
				if lc.Blobs[b.Digest] != b.Size {
					t.Fatalf("blob %s: size %d, descriptor %d", b.Digest, lc.Blobs[b.Digest], b.Size)
				}
			}
		}
	})
}
