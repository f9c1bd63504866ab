package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/labops/labops/internal/oci"
)

// population says what to write.
type population struct {
	repos, tags  int
	indexEvery   int // every n-th tag is a 2-platform OCI index with untagged children
	deletedEvery int // every n-th tag was deleted through the API: its manifest and tag are gone, its blobs stay
	damaged      int // repositories that lose one layer blob of one image, and keep a stale upload
	layerSize    int
	seed         uint64
}

// stats is what the writer wrote.
type stats struct {
	tags, manifests, blobs int
	deleted                int
	damaged                []string // "repo:tag" of the images that lost a layer
}

// writer writes registry:2's filesystem layout exactly as the registry
// does: blobs/sha256/<xx>/<hex>/data, and per repository _layers and
// _manifests/revisions links holding the digest, tags/<tag>/current/link
// and tags/<tag>/index/sha256/<hex>/link.
type writer struct {
	v2 string
	mu sync.Mutex
	st stats
}

func (w *writer) file(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func hexOf(d string) string { return strings.TrimPrefix(d, "sha256:") }

func (w *writer) blob(b []byte) (string, error) {
	d := oci.Digest(b)
	h := hexOf(d)
	p := filepath.Join(w.v2, "blobs/sha256", h[:2], h, "data")
	if _, err := os.Stat(p); err == nil {
		return d, nil // shared, already written
	}
	return d, w.file(p, b)
}

func (w *writer) link(repo, kind, d string) error {
	return w.file(filepath.Join(w.v2, "repositories", repo, kind, "sha256", hexOf(d), "link"), []byte(d))
}

// image writes a config and layers into repo and returns the manifest's
// descriptor (its blob and revision link written too).
func (w *writer) image(repo string, config []byte, layers [][]byte, pl *oci.Platform) (oci.Descriptor, []oci.Descriptor, error) {
	m := &oci.Manifest{SchemaVersion: 2, MediaType: oci.MediaTypeOCIManifest}
	var descs []oci.Descriptor
	for i, b := range append([][]byte{config}, layers...) {
		d, err := w.blob(b)
		if err != nil {
			return oci.Descriptor{}, nil, err
		}
		if err := w.link(repo, "_layers", d); err != nil {
			return oci.Descriptor{}, nil, err
		}
		desc := oci.Descriptor{MediaType: oci.MediaTypeOCILayer, Digest: d, Size: int64(len(b))}
		if i == 0 {
			desc.MediaType = oci.MediaTypeOCIConfig
			m.Config = desc
		} else {
			m.Layers = append(m.Layers, desc)
		}
		descs = append(descs, desc)
	}
	md, err := w.manifest(repo, m)
	md.Platform = pl
	return md, descs, err
}

func (w *writer) manifest(repo string, m *oci.Manifest) (oci.Descriptor, error) {
	body, err := oci.MarshalManifest(m)
	if err != nil {
		return oci.Descriptor{}, err
	}
	d, err := w.blob(body)
	if err != nil {
		return oci.Descriptor{}, err
	}
	w.mu.Lock()
	w.st.manifests++
	w.mu.Unlock()
	return oci.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(body))}, w.link(repo, "_manifests/revisions", d)
}

func (w *writer) tag(repo, tag, d string) error {
	base := filepath.Join(w.v2, "repositories", repo, "_manifests/tags", tag)
	if err := w.file(filepath.Join(base, "current/link"), []byte(d)); err != nil {
		return err
	}
	return w.file(filepath.Join(base, "index/sha256", hexOf(d), "link"), []byte(d))
}

// repo writes one repository: a base layer shared by its images, tags
// v0..vN-1, some of them indexes, some deleted, maybe one damaged image.
func (w *writer) repo(p population, r int) error {
	repo := fmt.Sprintf("bench/team%02d/app%03d", r%10, r)
	rng := rand.New(rand.NewPCG(p.seed, uint64(r)))
	layer := func(what string) []byte {
		b := make([]byte, p.layerSize/2+rng.IntN(p.layerSize))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return append([]byte(what+"\n"), b...)
	}
	base := layer("base of " + repo)
	damaged := r < p.damaged
	for t := range p.tags {
		tag := fmt.Sprintf("v%d", t)
		cfg := func(arch string) []byte {
			return fmt.Appendf(nil, `{"architecture":%q,"os":"linux","created":%q}`, arch, time.Unix(1.7e9+int64(r*1000+t), 0).UTC().Format(time.RFC3339))
		}
		var top oci.Descriptor
		var err error
		var lost []oci.Descriptor
		if p.indexEvery > 0 && t%p.indexEvery == p.indexEvery-1 {
			var children []oci.Descriptor
			for _, arch := range []string{"amd64", "arm64"} {
				c, descs, err := w.image(repo, cfg(arch), [][]byte{base, layer(repo + ":" + tag + "/" + arch)}, &oci.Platform{OS: "linux", Architecture: arch})
				if err != nil {
					return err
				}
				children = append(children, c)
				lost = descs[2:]
			}
			top, err = w.manifest(repo, &oci.Manifest{SchemaVersion: 2, MediaType: oci.MediaTypeOCIIndex, Manifests: children})
		} else {
			var descs []oci.Descriptor
			top, descs, err = w.image(repo, cfg("amd64"), [][]byte{base, layer(repo + ":" + tag)}, nil)
			lost = descs[2:]
		}
		if err != nil {
			return err
		}
		if err := w.tag(repo, tag, top.Digest); err != nil {
			return err
		}
		w.mu.Lock()
		w.st.tags++
		w.mu.Unlock()
		switch {
		case p.deletedEvery > 0 && t%p.deletedEvery == 1:
			// What DELETE /v2/<repo>/manifests/<digest> leaves: no tag, an
			// empty revision directory, the blobs.
			if err := os.RemoveAll(filepath.Join(w.v2, "repositories", repo, "_manifests/tags", tag)); err != nil {
				return err
			}
			if err := os.Remove(filepath.Join(w.v2, "repositories", repo, "_manifests/revisions/sha256", hexOf(top.Digest), "link")); err != nil {
				return err
			}
			w.mu.Lock()
			w.st.tags--
			w.st.deleted++
			w.mu.Unlock()
		case damaged && t == 0:
			h := hexOf(lost[0].Digest)
			if err := os.RemoveAll(filepath.Join(w.v2, "blobs/sha256", h[:2], h)); err != nil {
				return err
			}
			up := filepath.Join(w.v2, "repositories", repo, "_uploads", fmt.Sprintf("00000000-0000-4000-8000-%012d", r))
			if err := w.file(filepath.Join(up, "data"), layer("half an upload")); err != nil {
				return err
			}
			if err := w.file(filepath.Join(up, "startedat"), []byte("2020-01-01T00:00:00Z")); err != nil {
				return err
			}
			w.mu.Lock()
			w.st.damaged = append(w.st.damaged, repo+":"+tag)
			w.mu.Unlock()
		}
	}
	return nil
}

// write writes the whole population below root, 8 repositories at a time.
func write(root string, p population) (stats, error) {
	w := &writer{v2: filepath.Join(root, "docker/registry/v2")}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 8)
	)
	for r := range p.repos {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := w.repo(p, r); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return w.st, errs[0]
	}
	return w.st, nil
}

// countFiles counts regular files below root.
func countFiles(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	return n, err
}
