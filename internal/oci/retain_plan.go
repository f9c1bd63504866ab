package oci

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// RetentionManifest is what the planner knows of one manifest: what it
// points at and how big it is. The gatherer reads each distinct digest of a
// repository once.
type RetentionManifest struct {
	Digest   string       `json:"digest"`
	Size     int64        `json:"size"`
	Index    bool         `json:"index,omitempty"`
	Children []Descriptor `json:"children,omitempty"` // an index's manifests
	Blobs    []Descriptor `json:"blobs,omitempty"`    // an image's config, then layers
	// Created is the image's creation time from its config blob; for an
	// index, the newest child's. Zero when unknown.
	Created time.Time `json:"created,omitzero"`
	// Subject is the digest a referrer (signature, SBOM) points at.
	Subject string `json:"subject,omitempty"`
	// Problem says why the manifest could not be read (missing, invalid);
	// what it reaches is then unknown.
	Problem string `json:"problem,omitempty"`
}

// RetentionRepo is the planner's input for one repository.
type RetentionRepo struct {
	Repo     string   `json:"repository"`
	Tags     []TagRef `json:"tags"`
	Untagged []string `json:"untagged,omitempty"`
	// UntaggedListed says the backend lists untagged versions (Gitea):
	// only those can be deleted untagged. Without a listing (registry API),
	// the children of deleted indexes are deleted by digest.
	UntaggedListed bool `json:"untagged_listed"`
	// Manifests holds every manifest the tags and untagged versions reach.
	Manifests map[string]*RetentionManifest `json:"-"`
}

// KeptTag is a tag the plan keeps, with every reason.
type KeptTag struct {
	TagRef
	Reasons []string `json:"reasons"`
}

// DeletedTag is a tag the plan deletes.
type DeletedTag struct {
	TagRef
	Reason string `json:"reason"`
}

// DeletedManifest is an untagged manifest the plan deletes by digest.
type DeletedManifest struct {
	Digest   string   `json:"digest"`
	Platform string   `json:"platform,omitempty"`
	Parents  []string `json:"parents,omitempty"` // deleted tags whose index reaches it
	Reason   string   `json:"reason"`
}

// RepoPlan is the plan for one repository.
type RepoPlan struct {
	Repo     string            `json:"repository"`
	Rule     RetentionRule     `json:"rule"`
	Order    string            `json:"order"`
	Tags     int               `json:"tags"`
	Kept     []KeptTag         `json:"kept"`
	Deleted  []DeletedTag      `json:"deleted"`
	Untagged []DeletedManifest `json:"untagged_deleted"`
	// FreedBytes is what the deleted things alone use, expected back after
	// the registry's garbage collection.
	FreedBytes int64    `json:"freed_bytes"`
	Refused    string   `json:"refused,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
}

// PlanSummary counts a plan.
type PlanSummary struct {
	Repositories    int   `json:"repositories"`
	TagsKept        int   `json:"tags_kept"`
	TagsDeleted     int   `json:"tags_deleted"`
	UntaggedDeleted int   `json:"untagged_deleted"`
	FreedBytes      int64 `json:"freed_bytes"`
	Refused         int   `json:"refused_repositories"`
}

// RetentionPlan is what `oci retain` would delete, and why the rest stays.
type RetentionPlan struct {
	Backend  string      `json:"backend"`
	Registry string      `json:"registry"`
	Now      time.Time   `json:"now"`
	Repos    []RepoPlan  `json:"repositories"`
	Summary  PlanSummary `json:"summary"`
	// Refused is set when the brake stopped any repository: then nothing is
	// deleted anywhere.
	Refused bool `json:"refused"`
}

// PlanRetention computes the plan: a pure function of the policy, the
// repositories as gathered, and the clock.
//
// Safety, in order: a tag matching a keep pattern, among the newest N, or
// younger than the age limit (or of unknown age under one) is kept; every
// manifest a kept tag reaches (its own digest, an index's children) is
// protected, and a candidate tag pointing at a protected digest is kept too,
// because deleting a digest through the registry API removes every tag on
// it. Untagged manifests are deleted only when no kept tag reaches them.
// Freed bytes count only blobs and manifests that nothing retained, in any
// repository of the plan, reaches.
func PlanRetention(policy RetentionPolicy, repos []RetentionRepo, now time.Time) *RetentionPlan {
	plan := &RetentionPlan{Now: now}
	retained := map[string]bool{}
	deleted := make([]map[string]int64, len(repos))
	for i, in := range repos {
		rp, keep, del := planRepo(policy, in, now)
		for d := range keep {
			retained[d] = true
		}
		deleted[i] = del
		plan.Repos = append(plan.Repos, rp)
	}
	freedAll := map[string]int64{}
	for i := range plan.Repos {
		rp := &plan.Repos[i]
		for d, size := range deleted[i] {
			if !retained[d] {
				rp.FreedBytes += size
				freedAll[d] = size
			}
		}
		plan.Summary.Repositories++
		plan.Summary.TagsKept += len(rp.Kept)
		plan.Summary.TagsDeleted += len(rp.Deleted)
		plan.Summary.UntaggedDeleted += len(rp.Untagged)
		if rp.Refused != "" {
			plan.Summary.Refused++
			plan.Refused = true
		}
	}
	for _, s := range freedAll {
		plan.Summary.FreedBytes += s
	}
	slices.SortFunc(plan.Repos, func(a, b RepoPlan) int { return cmp.Compare(a.Repo, b.Repo) })
	return plan
}

// rankedTag is a tag with its creation time, as ranked for keep-N.
type rankedTag struct {
	TagRef
	created time.Time
	ver     version
	isVer   bool
}

// planRepo plans one repository. It returns the plan, every digest the
// retained things reach (manifests and blobs), and every digest the
// deleted things reach with its size.
func planRepo(policy RetentionPolicy, in RetentionRepo, now time.Time) (RepoPlan, map[string]bool, map[string]int64) {
	rule := policy.RuleFor(in.Repo)
	rp := RepoPlan{Repo: in.Repo, Rule: rule, Tags: len(in.Tags), Order: OrderCreated,
		Kept: []KeptTag{}, Deleted: []DeletedTag{}, Untagged: []DeletedManifest{}}
	rule.KeepTags = rule.keepTags()
	rp.Rule = rule
	tags := slices.Clone(in.Tags)
	slices.SortFunc(tags, func(a, b TagRef) int { return cmp.Compare(a.Tag, b.Tag) })

	reasons := map[string][]string{}
	var ranked []rankedTag
	for _, t := range tags {
		rt := rankedTag{TagRef: t, created: t.Created}
		if rt.created.IsZero() {
			if m := in.Manifests[t.Digest]; m != nil {
				rt.created = m.Created
			}
		}
		rt.ver, rt.isVer = parseVersion(t.Tag)
		if p, ok := matchAny(rule.KeepTags, t.Tag); ok {
			reasons[t.Tag] = append(reasons[t.Tag], fmt.Sprintf("matches keep-tag %q", p))
			continue
		}
		ranked = append(ranked, rt)
	}
	allTimed, allVer := true, true
	for _, rt := range ranked {
		allTimed = allTimed && !rt.created.IsZero()
		allVer = allVer && rt.isVer
	}
	if !allTimed && allVer {
		rp.Order = OrderVersion
	}
	slices.SortStableFunc(ranked, func(a, b rankedTag) int {
		if rp.Order == OrderCreated {
			if c := b.created.Compare(a.created); c != 0 {
				return c
			}
		}
		if a.isVer && b.isVer {
			if c := compareVersions(b.ver, a.ver); c != 0 {
				return c
			}
		}
		return cmp.Compare(b.Tag, a.Tag)
	})
	rank := 0
	for _, rt := range ranked {
		if rp.Order == OrderCreated && rt.created.IsZero() {
			reasons[rt.Tag] = append(reasons[rt.Tag], "creation time unknown")
			continue
		}
		rank++
		if rank <= rule.Keep {
			reasons[rt.Tag] = append(reasons[rt.Tag], fmt.Sprintf("newest %d (#%d by %s)", rule.Keep, rank, rp.Order))
		}
		if rule.KeepYoungerThan > 0 {
			switch {
			case rt.created.IsZero():
				reasons[rt.Tag] = append(reasons[rt.Tag], fmt.Sprintf("younger than %s cannot be disproved: creation time unknown", rule.KeepYoungerThan))
			case now.Sub(rt.created) < rule.KeepYoungerThan:
				reasons[rt.Tag] = append(reasons[rt.Tag], fmt.Sprintf("younger than %s", rule.KeepYoungerThan))
			}
		}
	}

	// Protect everything the kept tags reach.
	g := retainGraph{m: in.Manifests}
	protected := map[string]string{} // manifest digest -> the kept tag that reaches it
	for _, t := range tags {
		if len(reasons[t.Tag]) > 0 {
			g.manifests(t.Digest, func(d string) {
				if _, ok := protected[d]; !ok {
					protected[d] = t.Tag
				}
			})
		}
	}
	created := map[string]time.Time{}
	for _, rt := range ranked {
		created[rt.Tag] = rt.created
	}
	var delTags []TagRef
	for _, t := range tags {
		if len(reasons[t.Tag]) > 0 {
			rp.Kept = append(rp.Kept, KeptTag{TagRef: t, Reasons: reasons[t.Tag]})
			continue
		}
		if by, ok := protected[t.Digest]; ok {
			why := fmt.Sprintf("shares digest with kept tag %s", by)
			if k := slices.IndexFunc(tags, func(x TagRef) bool { return x.Tag == by }); k >= 0 && tags[k].Digest != t.Digest {
				why = fmt.Sprintf("its manifest is part of kept tag %s", by)
			}
			rp.Kept = append(rp.Kept, KeptTag{TagRef: t, Reasons: []string{why}})
			continue
		}
		why := fmt.Sprintf("not among the newest %d", rule.Keep)
		if rule.KeepYoungerThan > 0 {
			why += fmt.Sprintf(", older than %s", rule.KeepYoungerThan)
		}
		if c := created[t.Tag]; !c.IsZero() && t.Created.IsZero() {
			t.Created = c // shown in the plan
		}
		rp.Deleted = append(rp.Deleted, DeletedTag{TagRef: t, Reason: why})
		delTags = append(delTags, t)
	}

	// A kept image not read whole may reach anything: leave untagged
	// manifests alone in its repository.
	var unsure []string
	for _, k := range rp.Kept {
		g.manifests(k.Digest, func(d string) {
			if m := in.Manifests[d]; m == nil || m.Problem != "" {
				unsure = append(unsure, k.Tag)
			}
		})
	}
	unsure = slices.Compact(unsure)
	for _, tag := range unsure {
		rp.Warnings = append(rp.Warnings, fmt.Sprintf("kept tag %s could not be read whole; it is kept, and no untagged manifest of this repository is deleted", tag))
	}

	tagDigest := map[string]bool{}
	for _, t := range tags {
		tagDigest[t.Digest] = true
	}
	untaggedDel := map[string]*DeletedManifest{}
	add := func(d, platform, parent, reason string) {
		um := untaggedDel[d]
		if um == nil {
			um = &DeletedManifest{Digest: d, Platform: platform, Reason: reason}
			untaggedDel[d] = um
		}
		if parent != "" && !slices.Contains(um.Parents, parent) {
			um.Parents = append(um.Parents, parent)
		}
	}
	if len(unsure) == 0 {
		if in.UntaggedListed {
			parents := map[string][]string{}
			platforms := map[string]string{}
			for _, t := range delTags {
				g.children(t.Digest, func(parent string, c Descriptor) {
					parents[c.Digest] = append(parents[c.Digest], t.Tag)
					platforms[c.Digest] = c.Platform.String()
				})
			}
			for _, d := range in.Untagged {
				if _, ok := protected[d]; ok || tagDigest[d] {
					continue
				}
				if m := in.Manifests[d]; m != nil && m.Subject != "" {
					rp.Warnings = append(rp.Warnings, fmt.Sprintf("untagged %s refers to %s (a signature or attestation); left alone", d, m.Subject))
					continue
				}
				if len(parents[d]) > 0 {
					for _, p := range parents[d] {
						add(d, platforms[d], p, "child of deleted index")
					}
				} else {
					add(d, "", "", "orphaned: no tag reaches it")
				}
			}
		} else {
			for _, t := range delTags {
				g.children(t.Digest, func(parent string, c Descriptor) {
					if _, ok := protected[c.Digest]; ok || tagDigest[c.Digest] {
						return
					}
					add(c.Digest, c.Platform.String(), t.Tag, "child of deleted index")
				})
			}
		}
	}
	for _, um := range untaggedDel {
		slices.Sort(um.Parents)
		rp.Untagged = append(rp.Untagged, *um)
	}
	slices.SortFunc(rp.Untagged, func(a, b DeletedManifest) int { return cmp.Compare(a.Digest, b.Digest) })

	// What stays and what goes, down to the blobs: every manifest not
	// deleted stays (registry:2's collector keeps every revision), and so
	// does everything it reaches.
	gone := map[string]bool{}
	for _, t := range delTags {
		gone[t.Digest] = true
	}
	for d := range untaggedDel {
		gone[d] = true
	}
	keep := map[string]bool{}
	del := map[string]int64{}
	for d := range in.Manifests {
		if !gone[d] {
			g.own(d, func(d string, _ int64) { keep[d] = true })
		}
	}
	for _, k := range rp.Kept {
		g.reach(k.Digest, func(d string, _ int64) { keep[d] = true })
	}
	for d := range gone {
		g.own(d, func(d string, size int64) { del[d] = size })
	}
	if share := policy.maxShare(); rp.Tags > 0 && !policy.Force && float64(len(rp.Deleted)) > share*float64(rp.Tags) {
		rp.Refused = fmt.Sprintf("would delete %d of %d tags (%.0f%%), more than the limit of %.0f%%; nothing is deleted anywhere unless forced",
			len(rp.Deleted), rp.Tags, 100*float64(len(rp.Deleted))/float64(rp.Tags), 100*share)
	}
	return rp, keep, del
}

// retainGraph walks the manifests a repository's gatherer read.
type retainGraph struct {
	m map[string]*RetentionManifest
}

// manifests calls f for d and every manifest below it (an index's
// children, recursively), each once.
func (g retainGraph) manifests(d string, f func(string)) {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(d string) {
		if seen[d] {
			return
		}
		seen[d] = true
		f(d)
		if m := g.m[d]; m != nil {
			for _, c := range m.Children {
				walk(c.Digest)
			}
		}
	}
	walk(d)
}

// children calls f for every manifest below d (not d itself) with its
// descriptor in its parent index.
func (g retainGraph) children(d string, f func(parent string, c Descriptor)) {
	seen := map[string]bool{d: true}
	var walk func(string)
	walk = func(d string) {
		m := g.m[d]
		if m == nil {
			return
		}
		for _, c := range m.Children {
			if seen[c.Digest] {
				continue
			}
			seen[c.Digest] = true
			f(d, c)
			walk(c.Digest)
		}
	}
	walk(d)
}

// own calls f for manifest d itself and the blobs and child manifests it
// points at directly, with their sizes.
func (g retainGraph) own(d string, f func(digest string, size int64)) {
	m := g.m[d]
	if m == nil {
		f(d, 0)
		return
	}
	f(d, m.Size)
	for _, c := range m.Children {
		if cm := g.m[c.Digest]; cm == nil || cm.Size == 0 {
			f(c.Digest, c.Size)
		}
	}
	for _, b := range m.Blobs {
		f(b.Digest, b.Size)
	}
}

// reach calls f for every digest d reaches, manifests and blobs, with its
// size (a manifest's own size when read, else its descriptor's).
func (g retainGraph) reach(d string, f func(digest string, size int64)) {
	sizes := map[string]int64{}
	g.manifests(d, func(md string) {
		if m := g.m[md]; m != nil {
			if _, ok := sizes[md]; !ok || m.Size > 0 {
				sizes[md] = m.Size
			}
			for _, c := range m.Children {
				if _, ok := sizes[c.Digest]; !ok {
					sizes[c.Digest] = c.Size
				}
			}
			for _, b := range m.Blobs {
				sizes[b.Digest] = b.Size
			}
		} else if _, ok := sizes[md]; !ok {
			sizes[md] = 0
		}
	})
	for dg, s := range sizes {
		f(dg, s)
	}
}
