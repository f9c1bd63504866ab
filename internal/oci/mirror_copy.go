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

// check deep-checks every copied tag at the destination and compares its
// digest with the source's.
func (m *mirror) check(ctx context.Context) {
	tags := map[string][]string{}
	var copied []*MirrorTag
	for i := range m.res.Tags {
		t := &m.res.Tags[i]
		if t.State == MirrorCopied {
			tags[t.Target] = append(tags[t.Target], t.Tag)
			copied = append(copied, t)
		}
	}
	if len(copied) == 0 {
		return
	}
	m.progress("checking")
	depth := CheckOptions{Depth: DepthBlobs, VerifyDigests: m.opts.VerifyDigests, PageSize: m.opts.PageSize, Logger: m.log, Now: m.opts.Now}
	var wg sync.WaitGroup
	digests := make([]string, len(copied))
	errs := make([]error, len(copied))
	wg.Go(func() { m.res.Check = checkTags(ctx, m.dst, tags, depth) })
	sem := make(chan struct{}, cap(m.dst.sem))
	for i, t := range copied {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			digests[i], errs[i] = m.dst.ManifestDigest(ctx, t.Target, t.Tag)
		})
	}
	wg.Wait()
	broken := map[string]BrokenImage{}
	for _, b := range m.res.Check.Broken {
		broken[b.Repo+":"+b.Tag] = b
	}
	if m.res.Check.Status == job.StatusIncomplete {
		m.fail(fmt.Errorf("checking the copied tags: %s", m.res.Check.Error))
	}
	for i, t := range copied {
		switch {
		case errs[i] != nil:
			m.tagError(t, fmt.Errorf("after copying: %w", errs[i]))
		case digests[i] != t.Digest:
			t.State, t.Error = MirrorFailed, fmt.Sprintf("after copying the destination has %s, the source %s", digests[i], t.Digest)
		}
		if b, ok := broken[t.Target+":"+t.Tag]; ok {
			t.State = MirrorFailed
			if t.Error == "" {
				t.Error = "the deep check at the destination found it not whole: " + b.Problems[0].line()
			}
		}
	}
}
