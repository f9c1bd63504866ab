package oci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/labops/labops/internal/job"
)

// RetentionOptions say what one retention run does.
type RetentionOptions struct {
	Policy RetentionPolicy
	// Repos are repository patterns (globs); empty means every repository.
	Repos []string
	// Apply deletes; without it the run is a dry run.
	Apply bool
	// Check configures the re-check of every kept tag after applying
	// (depth, digest verification, its progress callback).
	Check CheckOptions
	// Progress, when set, is called while reading and deleting.
	Progress func(RetentionProgress)
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Retain is one retention run, the same for `oci retain` and the
// oci-retention job: gather, plan, and with Apply delete the planned tags,
// then the untagged manifests they orphaned, then deep-check every kept
// tag. The run fails when the brake refuses a repository (nothing is then
// deleted anywhere) or when any kept image is not whole afterwards; it is
// incomplete when anything could not be read or deleted.
func Retain(ctx context.Context, b RetentionBackend, c *Client, opts RetentionOptions) *RetentionResult {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	res := &RetentionResult{Started: opts.Now(), Status: job.StatusOK}
	defer func() { res.Duration = opts.Now().Sub(res.Started) }()
	repos, err := GatherRetention(ctx, b, c, opts.Repos, opts.Progress)
	if err != nil {
		res.Status, res.Error = job.StatusIncomplete, fmt.Sprintf("reading the registry: %v", err)
		return res
	}
	plan := PlanRetention(opts.Policy, repos, res.Started)
	plan.Backend, plan.Registry = b.Name(), c.Registry().Host
	res.Plan = plan
	if plan.Refused {
		res.Status = job.StatusFailed
		res.Error = fmt.Sprintf("the brake refused %d repositories (the plan deletes more than %.0f%% of their tags); nothing was deleted (--force, or force: true in a job, overrides the brake)",
			plan.Summary.Refused, 100*opts.Policy.maxShare())
		return res
	}
	if !opts.Apply {
		return res
	}
	res.Applied = true
	a := &applier{b: b, res: res, log: opts.Logger, progress: opts.Progress, c: c}
	for i := range plan.Repos {
		if ctx.Err() != nil {
			break
		}
		a.repo(ctx, &plan.Repos[i])
	}
	if err := ctx.Err(); err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("stopped before every deletion was done: %v", err))
	}
	kept := map[string][]string{}
	for _, rp := range plan.Repos {
		for _, k := range rp.Kept {
			kept[rp.Repo] = append(kept[rp.Repo], k.Tag)
		}
	}
	chk := opts.Check
	chk.Logger = opts.Logger
	chk.Now = opts.Now
	res.Recheck = checkTags(ctx, c, kept, chk)
	switch {
	case res.Recheck.Status == job.StatusFailed:
		res.Status = job.StatusFailed
		res.Error = fmt.Sprintf("%d kept images are not whole after applying", res.Recheck.Summary.BrokenImages)
	case res.Recheck.Status == job.StatusIncomplete:
		res.Status = job.StatusIncomplete
		res.Error = "the re-check of the kept tags is incomplete: " + res.Recheck.Error
	}
	if len(res.Errors) > 0 {
		res.Status = job.Worst(res.Status, job.StatusIncomplete)
		if res.Error == "" {
			res.Error = fmt.Sprintf("%d deletions could not be done: %s", len(res.Errors), res.Errors[0])
		}
	}
	return res
}

type applier struct {
	b        RetentionBackend
	c        *Client
	res      *RetentionResult
	log      *slog.Logger
	progress func(RetentionProgress)
}

func (a *applier) errorf(format string, args ...any) {
	a.res.Errors = append(a.res.Errors, fmt.Sprintf(format, args...))
}

func (a *applier) tick() {
	if a.progress != nil {
		a.progress(RetentionProgress{Phase: "deleting", Deleted: a.res.DeletedTags + a.res.DeletedUntagged, Requests: a.c.Requests()})
	}
}

// repo applies one repository's plan. First it lists the tags again: a
// tag moved or pushed since the plan could now share a digest the plan
// deletes, and such deletions are skipped.
func (a *applier) repo(ctx context.Context, rp *RepoPlan) {
	if len(rp.Deleted) == 0 && len(rp.Untagged) == 0 {
		return
	}
	now, err := a.b.Tags(ctx, rp.Repo)
	if err != nil {
		a.errorf("%s: listing tags again before deleting: %v; nothing deleted in it", rp.Repo, err)
		return
	}
	planned := map[string]string{} // tag -> digest the plan deletes
	doomed := map[string]bool{}    // digests the plan deletes
	for _, d := range rp.Deleted {
		planned[d.Tag] = d.Digest
		doomed[d.Digest] = true
	}
	for _, u := range rp.Untagged {
		doomed[u.Digest] = true
	}
	unsafe := map[string]string{} // digest -> the tag that now needs it
	moved := map[string]bool{}
	for _, t := range now {
		want, isPlanned := planned[t.Tag]
		switch {
		case isPlanned && want != t.Digest:
			moved[t.Tag] = true
			if doomed[t.Digest] {
				unsafe[t.Digest] = t.Tag
			}
		case !isPlanned && doomed[t.Digest]:
			unsafe[t.Digest] = t.Tag
		}
	}
	failed := map[string]bool{}
	for _, d := range rp.Deleted {
		if ctx.Err() != nil {
			return
		}
		if moved[d.Tag] {
			a.errorf("%s:%s: moved to another digest since the plan; not deleted", rp.Repo, d.Tag)
			failed[d.Tag] = true
			continue
		}
		if by, ok := unsafe[d.Digest]; ok {
			a.errorf("%s:%s: its digest %s is now also tag %s; not deleted", rp.Repo, d.Tag, d.Digest, by)
			failed[d.Tag] = true
			continue
		}
		err := a.b.DeleteTag(ctx, d.TagRef)
		switch {
		case err == nil, errors.Is(err, ErrNotFound):
			// Gone: a 404 means an earlier deletion of the same digest took it.
			a.res.DeletedTags++
			a.log.Info("deleted tag", "repository", rp.Repo, "tag", d.Tag, "digest", d.Digest)
		default:
			a.errorf("%s:%s: %v", rp.Repo, d.Tag, err)
			failed[d.Tag] = true
		}
		a.tick()
	}
	for _, u := range rp.Untagged {
		if ctx.Err() != nil {
			return
		}
		if slices.ContainsFunc(u.Parents, func(p string) bool { return failed[p] }) {
			a.res.Skipped = append(a.res.Skipped, fmt.Sprintf("%s@%s: its index was not deleted", rp.Repo, u.Digest))
			continue
		}
		if by, ok := unsafe[u.Digest]; ok {
			a.errorf("%s@%s: now tagged %s; not deleted", rp.Repo, u.Digest, by)
			continue
		}
		err := a.b.DeleteUntagged(ctx, rp.Repo, u.Digest)
		switch {
		case err == nil, errors.Is(err, ErrNotFound):
			a.res.DeletedUntagged++
			a.log.Info("deleted untagged manifest", "repository", rp.Repo, "digest", u.Digest, "platform", u.Platform)
		default:
			a.errorf("%s@%s: %v", rp.Repo, u.Digest, err)
		}
		a.tick()
	}
}

// checkTags is the deep check of the named tags of each repository, each
// distinct manifest and blob once per repository, as `oci check` walks
// them. A kept tag that no longer resolves is a broken image.
func checkTags(ctx context.Context, c *Client, tags map[string][]string, opts CheckOptions) *Report {
	w := newWalker(c, opts)
	start := w.now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*cap(c.sem))
	repos := make([]string, 0, len(tags))
	for r := range tags {
		repos = append(repos, r)
	}
	slices.Sort(repos)
	for _, repo := range repos {
		w.repos.Add(1)
		w.tagsKnown.Add(int64(len(tags[repo])))
		rw := &repoWalk{w: w, repo: repo, nodes: map[string]*node{}}
		for _, tag := range tags[repo] {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				w.fail(fmt.Errorf("re-checking %s: %w", repo, ctx.Err()))
				break
			}
			wg.Go(func() {
				defer func() { <-sem }()
				rw.walkTag(ctx, tag, "")
			})
		}
	}
	wg.Wait()
	w.report.CatalogUp = len(w.report.Errors) == 0
	return w.finish(start)
}
