package oci

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/labops/labops/internal/job"
)

// blobJob is one blob being placed in one destination repository; tags
// that share it wait for it.
type blobJob struct {
	done chan struct{}
	err  error
}

// copier holds what the copy phase shares between tags.
type copier struct {
	m       *mirror
	p       *Pusher
	streams chan struct{}

	mu       sync.Mutex
	jobs     map[string]*blobJob // by repo@digest
	inflight map[string]*blobJob // by digest: an upload from the source
	// children pushes each child manifest once per repository; roots
	// serializes the tags of one image (registry:2 can answer
	// DIGEST_INVALID to concurrent PUTs of the same manifest).
	children map[string]*blobJob    // by repo@digest
	roots    map[string]*sync.Mutex // by repo@digest
}

// copyAll copies every planned tag, several at once.
func (m *mirror) copyAll(ctx context.Context) {
	cp := &copier{
		m: m, p: NewPusher(m.dst),
		streams:  make(chan struct{}, m.opts.Streams),
		jobs:     map[string]*blobJob{},
		inflight: map[string]*blobJob{},
		children: map[string]*blobJob{},
		roots:    map[string]*sync.Mutex{},
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*m.opts.Streams)
	for i := range m.res.Tags {
		t := &m.res.Tags[i]
		if t.State != MirrorCopy {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			t.State = MirrorSkipped
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := cp.copyTag(ctx, t); err != nil {
				m.tagError(t, err)
			} else {
				t.State = MirrorCopied
			}
			m.tagsDone.Add(1)
			m.progress("copying")
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		m.fail(fmt.Errorf("the copy stopped before every tag was done: %w", err))
	}
}

// copyTag places every blob of t's image, then its manifests, children
// first, and the tag last.
func (cp *copier) copyTag(ctx context.Context, t *MirrorTag) error {
	g := t.graph
	errs := make([]error, len(g.Blobs))
	var wg sync.WaitGroup
	for i, b := range g.Blobs {
		wg.Go(func() { errs[i] = cp.ensureBlob(ctx, t.Target, t.Repo, b) })
	}
	wg.Wait()
	// A content error (a corrupt source blob) is the tag's story even when
	// another blob also hit a network error.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || contentError(err) && !contentError(first)) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	for _, gm := range g.Manifests[:len(g.Manifests)-1] {
		if err := cp.pushChild(ctx, t.Target, gm); err != nil {
			return err
		}
	}
	root := g.Manifests[len(g.Manifests)-1]
	key := t.Target + "@" + root.Digest
	cp.mu.Lock()
	l := cp.roots[key]
	if l == nil {
		l = &sync.Mutex{}
		cp.roots[key] = l
	}
	cp.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	_, err := cp.p.PushManifest(ctx, t.Target, t.Tag, root.Manifest.MediaType, root.Body)
	return err
}

// pushChild puts a child manifest by digest, once per repository.
func (cp *copier) pushChild(ctx context.Context, repo string, gm GraphManifest) error {
	key := repo + "@" + gm.Digest
	cp.mu.Lock()
	if j := cp.children[key]; j != nil {
		cp.mu.Unlock()
		select {
		case <-j.done:
			return j.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	j := &blobJob{done: make(chan struct{})}
	cp.children[key] = j
	cp.mu.Unlock()
	defer close(j.done)
	_, j.err = cp.p.PushManifest(ctx, repo, gm.Digest, gm.Manifest.MediaType, gm.Body)
	return j.err
}

// ensureBlob makes blob d present in the destination repository repo:
// nothing when it is there, a mount when another destination repository
// has it (or is receiving it now), else a stream from the source's srcRepo.
// Each (repo, digest) is placed once however many tags share it.
func (cp *copier) ensureBlob(ctx context.Context, repo, srcRepo string, d Descriptor) error {
	m := cp.m
	key := repo + "@" + d.Digest
	m.mu.Lock()
	if m.present[repo][d.Digest] {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	cp.mu.Lock()
	if j := cp.jobs[key]; j != nil {
		cp.mu.Unlock()
		select {
		case <-j.done:
			return j.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	j := &blobJob{done: make(chan struct{})}
	cp.jobs[key] = j
	var wait *blobJob
	if !cp.hasHolder(d.Digest) {
		if up := cp.inflight[d.Digest]; up != nil {
			wait = up
		} else {
			cp.inflight[d.Digest] = j
			defer func() {
				cp.mu.Lock()
				delete(cp.inflight, d.Digest)
				cp.mu.Unlock()
			}()
		}
	}
	cp.mu.Unlock()
	defer close(j.done)
	if wait != nil {
		select {
		case <-wait.done:
		case <-ctx.Done():
			j.err = ctx.Err()
			return j.err
		}
		if wait.err != nil && contentError(wait.err) {
			j.err = wait.err // the source blob is bad: no second read
			return j.err
		}
	}
	j.err = cp.place(ctx, repo, srcRepo, d)
	if j.err == nil {
		m.markPresent(repo, d.Digest)
	}
	return j.err
}

func (cp *copier) hasHolder(digest string) bool {
	cp.m.mu.Lock()
	defer cp.m.mu.Unlock()
	_, ok := cp.m.holder[digest]
	return ok
}

// place mounts or uploads one blob. A mount the registry declines (202)
// leaves an upload session open, which the upload then uses.
func (cp *copier) place(ctx context.Context, repo, srcRepo string, d Descriptor) error {
	m := cp.m
	m.mu.Lock()
	from := m.holder[d.Digest]
	m.mu.Unlock()
	mounted, location, err := cp.p.mountOrStart(ctx, repo, from, d)
	if err != nil {
		return err
	}
	if mounted {
		m.mounted.Add(1)
		return nil
	}
	select {
	case cp.streams <- struct{}{}:
	case <-ctx.Done():
		cp.p.cancelUpload(context.WithoutCancel(ctx), repo, location)
		return ctx.Err()
	}
	defer func() { <-cp.streams }()
	rc, err := m.src.OpenBlob(ctx, srcRepo, d)
	if err != nil {
		cp.p.cancelUpload(context.WithoutCancel(ctx), repo, location)
		return err
	}
	defer rc.Close()
	cr := &countingReader{r: rc, n: &m.bytesMoved}
	if err := cp.p.putUpload(ctx, repo, location, d, cr); err != nil {
		m.bytesMoved.Add(-cr.read)
		return err
	}
	m.uploaded.Add(1)
	return nil
}

// countingReader adds what passes to a shared counter, live for progress.
type countingReader struct {
	r    io.Reader
	n    interface{ Add(int64) int64 }
	read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	c.n.Add(int64(n))
	return n, err
}

// check deep-checks every copied tag at the destination, as oci check
// does (every manifest, config and layer; each distinct blob's data read
// once), and compares the digest the destination's tag names with the
// source's. It is walkTag with the comparison folded in: the tag's GET
// gives both, so no extra HEAD per tag.
func (m *mirror) check(ctx context.Context) {
	var copied []*MirrorTag
	for i := range m.res.Tags {
		if t := &m.res.Tags[i]; t.State == MirrorCopied {
			copied = append(copied, t)
		}
	}
	if len(copied) == 0 {
		return
	}
	m.progress("checking")
	w := newWalker(m.dst, CheckOptions{Depth: DepthBlobs, VerifyDigests: m.opts.VerifyDigests, PageSize: m.opts.PageSize, Logger: m.log, Now: m.opts.Now})
	start := w.now()
	walks := map[string]*repoWalk{}
	for _, t := range copied {
		if walks[t.Target] == nil {
			walks[t.Target] = &repoWalk{w: w, repo: t.Target, nodes: map[string]*node{}}
			w.repos.Add(1)
		}
		w.tagsKnown.Add(1)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*cap(m.dst.sem))
	for _, t := range copied {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			w.fail(fmt.Errorf("checking the copied tags: %w", ctx.Err()))
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			defer w.tagsDone.Add(1)
			m.checkTag(ctx, walks[t.Target], t)
		})
	}
	wg.Wait()
	rep := w.finish(start)
	rep.CatalogUp = len(rep.Errors) == 0
	m.res.Check = rep
	if rep.Status == job.StatusIncomplete {
		m.fail(fmt.Errorf("checking the copied tags: %s", rep.Error))
	}
}

// checkTag checks one copied tag and marks it failed when the destination
// names another digest or the image is not whole there.
func (m *mirror) checkTag(ctx context.Context, rw *repoWalk, t *MirrorTag) {
	w := rw.w
	img := BrokenImage{Repo: rw.repo, Tag: t.Tag}
	fm, err := m.dst.GetManifest(ctx, rw.repo, t.Tag)
	if err != nil {
		p, seen := problemFor(KindManifest, "", err)
		if !seen {
			w.fail(err)
			m.tagError(t, fmt.Errorf("after copying: %w", err))
			return
		}
		img.Problems = []Problem{p}
		w.broken(img)
		t.State, t.Error = MirrorFailed, "after copying, the destination's tag: "+p.line()
		return
	}
	img.Digest = fm.Digest
	if fm.Digest != t.Digest {
		t.State, t.Error = MirrorFailed, fmt.Sprintf("after copying the destination has %s, the source %s", fm.Digest, t.Digest)
	}
	problems, err := rw.once("m:"+fm.Digest, func() ([]Problem, error) {
		w.manifests.Add(1)
		return rw.walkContent(ctx, fm.Manifest, fm.Digest)
	})
	if err != nil {
		w.fail(err)
	}
	if len(problems) > 0 {
		img.Problems = problems
		w.broken(img)
		t.State = MirrorFailed
		if t.Error == "" {
			t.Error = "the deep check at the destination found it not whole: " + problems[0].line()
		}
	}
}
