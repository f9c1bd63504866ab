package oci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Depth is how deep a check goes.
type Depth string

const (
	// DepthBlobs checks manifests, configs and every layer (the default).
	DepthBlobs Depth = "blobs"
	// DepthManifests checks tags, indexes and child manifests only.
	DepthManifests Depth = "manifests"
)

// ParseDepth parses "blobs" or "manifests" ("" means blobs).
func ParseDepth(s string) (Depth, error) {
	switch Depth(s) {
	case "", DepthBlobs:
		return DepthBlobs, nil
	case DepthManifests:
		return DepthManifests, nil
	}
	return "", fmt.Errorf("depth %q: valid are blobs, manifests", s)
}

// CheckOptions say what a check walks.
type CheckOptions struct {
	// Repos limits the walk to these repositories; empty means the catalog.
	Repos []string
	Depth Depth
	// VerifyDigests downloads every blob and checks its size and digest.
	VerifyDigests bool
	// PageSize is the n= of catalog and tag list pages (default 1000).
	PageSize int
	// Progress, when set, is called (from several goroutines, serialized)
	// whenever a tag is done.
	Progress func(Progress)
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Progress is a snapshot of a running check.
type Progress struct {
	Repositories int
	TagsDone     int
	TagsKnown    int
	Requests     int64
	Broken       int
}

// maxErrors caps the distinct incomplete reasons a report keeps.
const maxErrors = 20

type walker struct {
	c    *Client
	opts CheckOptions
	log  *slog.Logger

	mu      sync.Mutex
	report  *Report
	errSeen map[string]bool
	progMu  sync.Mutex

	repos, tagsKnown, tagsDone, manifests, blobs atomic.Int64

	// data proves each distinct blob's bytes once per registry.
	data dataProofs
}

// Check walks the registry: every repository (catalog or opts.Repos),
// every tag, every index child, config and layer.
func Check(ctx context.Context, c *Client, opts CheckOptions) *Report {
	w := newWalker(c, opts)
	start := w.now()
	repos := opts.Repos
	if len(repos) == 0 {
		var err error
		repos, err = c.Catalog(ctx, opts.PageSize)
		if err != nil {
			w.fail(err)
			return w.finish(start)
		}
		w.report.CatalogUp = true
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, cap(c.sem))
	var listed atomic.Bool
	for _, repo := range repos {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			w.fail(ctx.Err())
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if w.walkRepo(ctx, repo, len(opts.Repos) > 0) {
				listed.Store(true)
			}
		})
	}
	wg.Wait()
	if len(opts.Repos) > 0 {
		w.report.CatalogUp = listed.Load()
	}
	return w.finish(start)
}

// CheckReference checks one image, by tag or digest, as deep as opts say.
func CheckReference(ctx context.Context, c *Client, ref Reference, opts CheckOptions) *Report {
	w := newWalker(c, opts)
	start := w.now()
	w.repos.Add(1)
	w.tagsKnown.Add(1)
	rw := &repoWalk{w: w, repo: ref.Repo, nodes: map[string]*node{}}
	rw.walkTag(ctx, ref.Tag, ref.Digest)
	w.report.CatalogUp = len(w.report.Errors) == 0
	return w.finish(start)
}

func newWalker(c *Client, opts CheckOptions) *walker {
	if opts.Depth == "" {
		opts.Depth = DepthBlobs
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &walker{
		c: c, opts: opts, log: opts.Logger,
		errSeen: map[string]bool{},
		data:    dataProofs{m: map[string]*dataProof{}},
		report: &Report{
			Registry: c.Registry().Host,
			Depth:    opts.Depth,
			Verified: opts.VerifyDigests,
			Started:  opts.Now(),
		},
	}
}

func (w *walker) now() time.Time { return w.opts.Now() }

// fail records a reason the walk is incomplete.
func (w *walker) fail(err error) {
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "the check ran out of time: " + msg
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.errSeen[msg] {
		return
	}
	w.errSeen[msg] = true
	if len(w.report.Errors) < maxErrors {
		w.report.Errors = append(w.report.Errors, msg)
	}
}

func (w *walker) broken(b BrokenImage) {
	w.mu.Lock()
	w.report.Broken = append(w.report.Broken, b)
	w.mu.Unlock()
}

func (w *walker) finish(start time.Time) *Report {
	r := w.report
	r.Duration = w.now().Sub(start)
	r.Summary.Repositories = int(w.repos.Load())
	r.Summary.Tags = int(w.tagsDone.Load())
	r.Summary.Manifests = int(w.manifests.Load())
	r.Summary.Blobs = int(w.blobs.Load())
	r.Summary.Requests = w.c.Requests()
	r.finish()
	return r
}

func (w *walker) progress() {
	if w.opts.Progress == nil {
		return
	}
	w.mu.Lock()
	nb := len(w.report.Broken)
	w.mu.Unlock()
	w.progMu.Lock()
	defer w.progMu.Unlock()
	w.opts.Progress(Progress{
		Repositories: int(w.repos.Load()),
		TagsDone:     int(w.tagsDone.Load()),
		TagsKnown:    int(w.tagsKnown.Load()),
		Requests:     w.c.Requests(),
		Broken:       nb,
	})
}

// walkRepo lists repo's tags and walks each; it reports whether the tag
// list answered.
func (w *walker) walkRepo(ctx context.Context, repo string, named bool) bool {
	tags, err := w.c.Tags(ctx, repo, w.opts.PageSize)
	if err != nil {
		// A catalog repository without tags answers 404 on registry:2;
		// a repository the user named must exist.
		if errors.Is(err, ErrNotFound) && !named {
			w.log.Debug("repository has no tags", "repository", repo)
			w.repos.Add(1)
			return true
		}
		w.fail(err)
		return false
	}
	w.repos.Add(1)
	w.tagsKnown.Add(int64(len(tags)))
	rw := &repoWalk{w: w, repo: repo, nodes: map[string]*node{}}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*cap(w.c.sem))
	for _, tag := range tags {
		if !ValidTag(tag) {
			w.fail(fmt.Errorf("repository %s: the tag list holds %q, which is not a tag", repo, tag))
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			w.fail(fmt.Errorf("walking %s: %w", repo, ctx.Err()))
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			rw.walkTag(ctx, tag, "")
		})
	}
	wg.Wait()
	return true
}
