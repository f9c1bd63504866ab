package oci

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// GraphManifest is one manifest of an image graph: its descriptor and its
// raw bytes exactly as the registry served them (Digest is their sha256).
type GraphManifest struct {
	Descriptor
	Body []byte
	// Manifest is Body parsed.
	Manifest *Manifest
}

// ImageGraph is everything one tag (or digest) is made of: its manifest or
// index, every child manifest, and every distinct config and layer. Copying
// an image means pushing Blobs, then Manifests in order, the root last.
type ImageGraph struct {
	Repo, Ref string
	Root      Descriptor      // the tag's manifest or index
	Manifests []GraphManifest // every manifest, children before their index (push order), root last
	Blobs     []Descriptor    // distinct configs and layers of every manifest, in first-seen order
}

// BlobBytes is the sum of the sizes of the graph's blobs.
func (g *ImageGraph) BlobBytes() int64 {
	var n int64
	for _, b := range g.Blobs {
		n += b.Size
	}
	return n
}

// Platforms returns the platforms of the root index's children, in index
// order ("" for a child without one); nil for a plain image.
func (g *ImageGraph) Platforms() []string {
	root := g.Manifests[len(g.Manifests)-1].Manifest
	if !root.IsIndex() {
		return nil
	}
	out := make([]string, 0, len(root.Manifests))
	for _, d := range root.Manifests {
		out = append(out, d.Platform.String())
	}
	return out
}

// maxGraphDepth bounds nested indexes (an index of indexes is legal; a
// cycle cannot be, since digests are content hashes, but a hostile
// registry could still serve an endless chain).
const maxGraphDepth = 4

// maxGraphManifests bounds the manifests one image may have.
const maxGraphManifests = 1000

// ReadImageGraph fetches repo's ref (a tag or digest) and every manifest
// below it, each checked against its digest, and lists the blobs. It reads
// no blob data. A child that is missing or does not match its descriptor is
// an error naming it; callers tell missing from unreachable with errors.Is
// (ErrNotFound) and StatusOf.
func ReadImageGraph(ctx context.Context, c *Client, repo, ref string) (*ImageGraph, error) {
	fm, err := c.GetManifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	return readGraphBelow(ctx, c, repo, ref, fm)
}

// readGraphBelow is ReadImageGraph from a root manifest already fetched.
func readGraphBelow(ctx context.Context, c *Client, repo, ref string, fm *FetchedManifest) (*ImageGraph, error) {
	root := GraphManifest{
		Descriptor: Descriptor{MediaType: fm.Manifest.MediaType, Digest: fm.Digest, Size: int64(len(fm.Body))},
		Body:       fm.Body,
		Manifest:   fm.Manifest,
	}
	g := &ImageGraph{Repo: repo, Ref: ref, Root: root.Descriptor}
	r := &graphReader{c: c, repo: repo, fetched: map[string]*GraphManifest{root.Digest: &root}, emitted: map[string]bool{}}
	if err := r.below(ctx, &root, 0); err != nil {
		return nil, fmt.Errorf("reading image %s:%s: %w", repo, ref, err)
	}
	g.Manifests = append(r.out, root)
	blobSeen := map[string]bool{}
	for _, m := range g.Manifests {
		if m.Manifest.IsIndex() {
			continue
		}
		for _, d := range append([]Descriptor{m.Manifest.Config}, m.Manifest.Layers...) {
			if !blobSeen[d.Digest] {
				blobSeen[d.Digest] = true
				g.Blobs = append(g.Blobs, d)
			}
		}
	}
	return g, nil
}

type graphReader struct {
	c       *Client
	repo    string
	fetched map[string]*GraphManifest
	emitted map[string]bool
	out     []GraphManifest
}

// below fetches m's children not yet fetched (concurrently), then appends
// each child not yet emitted to r.out after its own children, in index
// order: a post-order walk, so every manifest follows what it points at.
func (r *graphReader) below(ctx context.Context, m *GraphManifest, depth int) error {
	if !m.Manifest.IsIndex() {
		return nil
	}
	if depth >= maxGraphDepth {
		return fmt.Errorf("index %s: indexes nested deeper than %d", m.Digest, maxGraphDepth)
	}
	var todo []Descriptor
	queued := map[string]bool{}
	for _, d := range m.Manifest.Manifests {
		if r.fetched[d.Digest] == nil && !queued[d.Digest] {
			queued[d.Digest] = true
			todo = append(todo, d)
		}
	}
	if len(r.fetched)+len(todo) > maxGraphManifests {
		return fmt.Errorf("index %s: more than %d manifests in one image", m.Digest, maxGraphManifests)
	}
	got := make([]GraphManifest, len(todo))
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, d := range todo {
		wg.Go(func() {
			fm, err := r.c.GetManifest(ctx, r.repo, d.Digest)
			if err != nil {
				errs[i] = &childError{fmt.Errorf("child manifest %s (%s): %w", d.Digest, platformOrNone(d.Platform), err)}
				return
			}
			if int64(len(fm.Body)) != d.Size {
				errs[i] = &childError{fmt.Errorf("child manifest %s: %w: %d bytes, index says %d", d.Digest, ErrSizeMismatch, len(fm.Body), d.Size)}
				return
			}
			got[i] = GraphManifest{Descriptor: d, Body: fm.Body, Manifest: fm.Manifest}
		})
	}
	wg.Wait()
	for i := range todo {
		if errs[i] != nil {
			return errs[i]
		}
		r.fetched[todo[i].Digest] = &got[i]
	}
	for _, d := range m.Manifest.Manifests {
		if r.emitted[d.Digest] {
			continue
		}
		r.emitted[d.Digest] = true
		kid := r.fetched[d.Digest]
		if err := r.below(ctx, kid, depth+1); err != nil {
			return err
		}
		r.out = append(r.out, *kid)
	}
	return nil
}

// childError marks an error about a manifest below the root: the
// reference exists, but its image is not whole.
type childError struct{ err error }

func (e *childError) Error() string { return e.err.Error() }
func (e *childError) Unwrap() error { return e.err }

// rootMissing reports whether err from ReadImageGraph means the
// reference itself does not exist (not a missing child).
func rootMissing(err error) bool {
	var ce *childError
	return errors.Is(err, ErrNotFound) && !errors.As(err, &ce)
}

func platformOrNone(p *Platform) string {
	if p == nil {
		return "no platform"
	}
	return p.String()
}
