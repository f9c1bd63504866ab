package oci

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// RetentionProgress is a snapshot of a running retention: gathering, then
// deleting.
type RetentionProgress struct {
	Phase        string // "reading", "deleting"
	Repositories int
	ReposDone    int
	Tags         int
	Manifests    int
	Deleted      int
	Requests     int64
}

// gatherer reads what the planner needs, each distinct manifest and config
// of a repository once.
type gatherer struct {
	b        RetentionBackend
	c        *Client
	progress func(RetentionProgress)

	repos, reposDone, tags, manifests atomic.Int64
	progMu                            sync.Mutex
}

// GatherRetention lists the repositories matching patterns (all when
// empty), their tags and untagged versions, and reads every manifest they
// reach and, where the backend gives no creation time, the config blobs
// that hold it. A manifest that is missing or unreadable is recorded as a
// problem; anything that could not be asked (network, 5xx, auth) is an
// error, and no plan must be made from what was seen.
func GatherRetention(ctx context.Context, b RetentionBackend, c *Client, patterns []string, progress func(RetentionProgress)) ([]RetentionRepo, error) {
	g := &gatherer{b: b, c: c, progress: progress}
	all, err := b.Repos(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing repositories: %w", err)
	}
	var names []string
	for _, r := range all {
		if _, ok := matchAny(patterns, r); ok || len(patterns) == 0 {
			names = append(names, r)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	g.repos.Store(int64(len(names)))
	out := make([]RetentionRepo, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, name := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = g.repo(ctx, name)
			g.reposDone.Add(1)
			g.report()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (g *gatherer) report() {
	if g.progress == nil {
		return
	}
	g.progMu.Lock()
	defer g.progMu.Unlock()
	g.progress(RetentionProgress{Phase: "reading", Repositories: int(g.repos.Load()), ReposDone: int(g.reposDone.Load()),
		Tags: int(g.tags.Load()), Manifests: int(g.manifests.Load()), Requests: g.c.Requests()})
}

func (g *gatherer) repo(ctx context.Context, name string) (RetentionRepo, error) {
	rr := RetentionRepo{Repo: name, Manifests: map[string]*RetentionManifest{}, UntaggedListed: g.b.Name() != "registry"}
	tags, err := g.b.Tags(ctx, name)
	if err != nil {
		return rr, fmt.Errorf("listing tags of %s: %w", name, err)
	}
	rr.Tags = tags
	g.tags.Add(int64(len(tags)))
	untagged, err := g.b.Untagged(ctx, name)
	if err != nil {
		return rr, fmt.Errorf("listing untagged versions of %s: %w", name, err)
	}
	rr.Untagged = untagged
	var level []string
	for _, t := range tags {
		level = append(level, t.Digest)
	}
	level = append(level, untagged...)
	// Breadth first: a level's manifests at once, then their children.
	var mu sync.Mutex
	for len(level) > 0 {
		var todo []string
		for _, d := range level {
			if _, seen := rr.Manifests[d]; !seen {
				rr.Manifests[d] = nil
				todo = append(todo, d)
			}
		}
		var next []string
		errs := make([]error, len(todo))
		var wg sync.WaitGroup
		for i, d := range todo {
			wg.Go(func() {
				m, err := g.manifest(ctx, name, d)
				errs[i] = err
				mu.Lock()
				defer mu.Unlock()
				if m != nil {
					rr.Manifests[d] = m
					for _, c := range m.Children {
						next = append(next, c.Digest)
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return rr, err
		}
		g.report()
		level = next
	}
	return rr, g.created(ctx, &rr)
}

// manifest reads one manifest. It returns a manifest with Problem set when
// the registry says it is missing or it cannot be parsed, and an error
// when the registry could not be asked.
func (g *gatherer) manifest(ctx context.Context, repo, d string) (*RetentionManifest, error) {
	g.manifests.Add(1)
	m := &RetentionManifest{Digest: d}
	fm, err := g.c.GetManifest(ctx, repo, d)
	if err != nil {
		if p, seen := problemFor(KindManifest, d, err); seen {
			m.Problem = p.State + ": " + p.Message
			if fm != nil {
				m.Size = int64(len(fm.Body))
			}
			return m, nil
		}
		return nil, err
	}
	m.Size = int64(len(fm.Body))
	m.Subject = manifestSubject(fm.Body)
	if fm.Manifest.IsIndex() {
		m.Index = true
		m.Children = fm.Manifest.Manifests
	} else {
		m.Blobs = append([]Descriptor{fm.Manifest.Config}, fm.Manifest.Layers...)
	}
	return m, nil
}

// created fills in the creation time of every image a tag without one
// reaches: its config's `created`, and for an index the newest child's.
func (g *gatherer) created(ctx context.Context, rr *RetentionRepo) error {
	need := map[string]bool{}
	for _, t := range rr.Tags {
		if !t.Created.IsZero() {
			continue
		}
		m := rr.Manifests[t.Digest]
		if m == nil {
			continue
		}
		if !m.Index {
			need[m.Digest] = true
			continue
		}
		for _, c := range m.Children {
			if cm := rr.Manifests[c.Digest]; cm != nil && !cm.Index {
				need[cm.Digest] = true
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for d := range need {
		m := rr.Manifests[d]
		if m.Problem != "" || len(m.Blobs) == 0 || m.Blobs[0].Size > maxConfigSize {
			continue
		}
		wg.Go(func() {
			body, err := g.c.GetBlob(ctx, rr.Repo, m.Blobs[0], maxConfigSize)
			if err != nil {
				if _, seen := problemFor(KindConfig, m.Blobs[0].Digest, err); !seen {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				return // a missing config: the creation time is unknown
			}
			if t, ok, err := ParseImageCreated(body); err == nil && ok {
				mu.Lock()
				m.Created = t
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, m := range rr.Manifests {
		if m == nil || !m.Index {
			continue
		}
		for _, c := range m.Children {
			if cm := rr.Manifests[c.Digest]; cm != nil && cm.Created.After(m.Created) {
				m.Created = cm.Created
			}
		}
	}
	return nil
}
