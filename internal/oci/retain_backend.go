package oci

import (
	"context"
	"time"
)

// TagRef is one tag of a repository as a retention backend lists it.
type TagRef struct {
	Repo   string `json:"repository"`
	Tag    string `json:"tag"`
	Digest string `json:"digest"` // the manifest (or index) the tag points at
	// Created is when the backend says the tag was made (Gitea's
	// created_at); zero when it does not say, and the policy then reads the
	// image's creation time from its config blob.
	Created time.Time `json:"created,omitzero"`
}

// RetentionBackend is what `oci retain` needs from a registry: list
// repositories and tags, list the untagged manifest versions some
// registries expose, and delete. Manifests and blobs are read through the
// registry API (a Client) whatever the backend, to compute what kept tags
// reach.
//
// Two implementations: the distribution registry API (registry:2 and
// compatible: a tag is deleted by deleting its manifest digest, which
// removes every tag on that digest, so the planner never deletes a digest a
// kept tag shares), and the Forgejo/Gitea packages API (a tag is deleted by
// name; untagged per-platform children are their own sha256: versions).
type RetentionBackend interface {
	// Name is "registry" or "gitea", for reports.
	Name() string
	// Repos lists every repository; the caller filters by pattern.
	Repos(ctx context.Context) ([]string, error)
	// Tags lists every tag of repo with the digest it points at.
	Tags(ctx context.Context, repo string) ([]TagRef, error)
	// Untagged lists the digests of manifests the registry keeps as
	// versions of repo without a tag (Gitea's sha256: versions). The
	// registry API has no such listing and returns nil.
	Untagged(ctx context.Context, repo string) ([]string, error)
	// DeleteTag removes one tag. On the registry API this deletes the
	// manifest by digest (and so every tag on it).
	DeleteTag(ctx context.Context, t TagRef) error
	// DeleteUntagged removes an untagged manifest version by digest.
	DeleteUntagged(ctx context.Context, repo, digest string) error
}
