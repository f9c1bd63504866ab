package oci

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// RegistryBackend is the RetentionBackend for the distribution registry
// API (registry:2 and compatible): the catalog and tag lists, a manifest
// HEAD per tag for its digest, and DELETE by digest, which removes the
// manifest and every tag on it. The registry keeps the untagged children of
// an index as revisions of their own and has no listing of them, so
// Untagged is nil and the planner names the children of deleted indexes,
// which DeleteUntagged removes by digest.
type RegistryBackend struct {
	c        *Client
	pageSize int
}

var _ RetentionBackend = (*RegistryBackend)(nil)

// NewRegistryBackend returns the backend for c's registry; pageSize is the
// n= of catalog and tag list pages (0: DefaultPageSize).
func NewRegistryBackend(c *Client, pageSize int) *RegistryBackend {
	return &RegistryBackend{c: c, pageSize: pageSize}
}

// Name is "registry".
func (b *RegistryBackend) Name() string { return "registry" }

// Repos lists the catalog.
func (b *RegistryBackend) Repos(ctx context.Context) ([]string, error) {
	return b.c.Catalog(ctx, b.pageSize)
}

// Tags lists repo's tags and resolves each to its digest, several at once
// (the client bounds the requests in flight). A repository without tags
// (registry:2 answers 404) has none; a tag deleted between the list and
// its HEAD is left out.
func (b *RegistryBackend) Tags(ctx context.Context, repo string) ([]TagRef, error) {
	names, err := b.c.Tags(ctx, repo, b.pageSize)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	refs := make([]TagRef, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*cap(b.c.sem))
	for i, tag := range names {
		if !ValidTag(tag) {
			errs[i] = fmt.Errorf("%w: repository %s: the tag list holds %q, which is not a tag", ErrMalformedResponse, repo, tag)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("listing tags of %s: %w", repo, ctx.Err())
		}
		wg.Go(func() {
			defer func() { <-sem }()
			d, err := b.c.ManifestDigest(ctx, repo, tag)
			refs[i] = TagRef{Repo: repo, Tag: tag, Digest: d}
			errs[i] = err
		})
	}
	wg.Wait()
	out := refs[:0]
	for i, r := range refs {
		switch {
		case errs[i] == nil:
			out = append(out, r)
		case errors.Is(errs[i], ErrNotFound):
			// deleted meanwhile: not a tag any more
		default:
			return nil, errs[i]
		}
	}
	return out, nil
}

// Untagged is nil: the registry API cannot list untagged manifests.
func (b *RegistryBackend) Untagged(context.Context, string) ([]string, error) { return nil, nil }

// DeleteTag deletes the tag's manifest by digest, and so every tag on it.
func (b *RegistryBackend) DeleteTag(ctx context.Context, t TagRef) error {
	return b.c.DeleteManifest(ctx, t.Repo, t.Digest)
}

// DeleteUntagged deletes an untagged manifest (a child of a deleted index)
// by digest.
func (b *RegistryBackend) DeleteUntagged(ctx context.Context, repo, digest string) error {
	return b.c.DeleteManifest(ctx, repo, digest)
}
