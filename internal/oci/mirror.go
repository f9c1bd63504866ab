package oci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labops/labops/internal/job"
)

// MirrorEndpoint is one side of a mirror: a registry and an optional
// repository prefix (a Forgejo/Gitea owner, a team namespace). Repository
// names relative to the source's prefix keep their name under the
// destination's.
type MirrorEndpoint struct {
	Registry Registry `json:"-"`
	Prefix   string   `json:"prefix,omitempty"`
}

func (e MirrorEndpoint) String() string {
	if e.Prefix == "" {
		return e.Registry.Host
	}
	return e.Registry.Host + "/" + e.Prefix
}

// repo maps a name relative to the prefix to the endpoint's repository.
func (e MirrorEndpoint) repo(rel string) string {
	if e.Prefix == "" {
		return rel
	}
	return e.Prefix + "/" + rel
}

// rel returns repo relative to the prefix, or false when it lies outside.
func (e MirrorEndpoint) rel(repo string) (string, bool) {
	if e.Prefix == "" {
		return repo, true
	}
	return strings.CutPrefix(repo, e.Prefix+"/")
}

// ParseMirrorEndpoint parses "host[:port][/prefix]", optionally with an
// http:// or https:// scheme (see ParseRegistry). The prefix must be a
// valid repository name (e.g. an owner: "git.example.org/ops").
func ParseMirrorEndpoint(s string, plainHTTP bool) (MirrorEndpoint, error) {
	scheme := ""
	rest := s
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, rest = s[:i+3], s[i+3:]
	}
	host, prefix, _ := strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	reg, err := ParseRegistry(scheme+host, plainHTTP)
	if err != nil {
		return MirrorEndpoint{}, err
	}
	if prefix == "v2" || strings.HasPrefix(prefix, "v2/") {
		return MirrorEndpoint{}, fmt.Errorf("registry %q: give the host and an optional repository prefix, not an API path", s)
	}
	if prefix != "" && !ValidRepo(prefix) {
		return MirrorEndpoint{}, fmt.Errorf("registry %q: prefix %q is not a repository name (lower case, digits, separators . _ - /)", s, prefix)
	}
	return MirrorEndpoint{Registry: reg, Prefix: prefix}, nil
}

// MirrorOptions say what one mirror run does.
type MirrorOptions struct {
	Source, Destination MirrorEndpoint
	// Repos are patterns (globs, as for retention) of repository names
	// relative to the source prefix; empty means every repository.
	Repos []string
	// Apply copies; without it the run only plans.
	Apply bool
	// Prune plans (and with Apply deletes) destination tags the source
	// no longer has, in the mirrored repositories, under the retention
	// brake: MaxDeleteShare (0: DefaultMaxDeleteShare) unless Force.
	Prune          bool
	MaxDeleteShare float64
	Force          bool
	// Streams is how many blobs are copied at once (default
	// DefaultConcurrency).
	Streams int
	// PageSize is the n= of catalog and tag list pages.
	PageSize int
	// VerifyDigests makes the check after copying download every blob of
	// every copied tag and hash it, instead of reading one byte.
	VerifyDigests bool
	Progress      func(MirrorProgress)
	Logger        *slog.Logger
	Now           func() time.Time
}

// MirrorProgress is a snapshot of a running mirror.
type MirrorProgress struct {
	Phase      string // "planning", "copying", "checking"
	ReposDone  int
	Repos      int
	TagsDone   int
	TagsToCopy int
	BytesMoved int64
	Requests   int64
}

// Tag states in a mirror plan and result.
const (
	MirrorIdentical = "identical" // same digest on both sides
	MirrorCopy      = "copy"      // planned
	MirrorCopied    = "copied"    // copied and checked
	MirrorFailed    = "failed"    // not copied, or different after copying
	MirrorSkipped   = "skipped"   // not attempted (the run stopped)
)

// MirrorTag is one source tag and what the mirror does with it.
type MirrorTag struct {
	Repo      string   `json:"repository"`        // at the source
	Target    string   `json:"target_repository"` // at the destination
	Tag       string   `json:"tag"`
	Digest    string   `json:"digest"`                       // at the source
	Previous  string   `json:"destination_digest,omitempty"` // at the destination before the run
	MediaType string   `json:"media_type,omitempty"`
	Platforms []string `json:"platforms,omitempty"`
	Manifests int      `json:"manifests,omitempty"`
	Blobs     int      `json:"blobs,omitempty"`
	// Missing counts the blobs the destination repository lacks, and
	// MissingBytes their size.
	Missing      int    `json:"missing_blobs,omitempty"`
	MissingBytes int64  `json:"missing_bytes,omitempty"`
	State        string `json:"state"`
	Error        string `json:"error,omitempty"`

	graph *ImageGraph
}

// Subject is "repo:tag" at the source.
func (t MirrorTag) Subject() string { return t.Repo + ":" + t.Tag }

// MirrorSummary counts a plan and what was done.
type MirrorSummary struct {
	Repositories  int   `json:"repositories"`
	TagsIdentical int   `json:"tags_identical"`
	TagsToCopy    int   `json:"tags_to_copy"`
	BlobsToUpload int   `json:"blobs_to_upload"`
	BlobsToMount  int   `json:"blobs_to_mount"`
	BytesToMove   int64 `json:"bytes_to_move"`

	TagsCopied    int   `json:"tags_copied"`
	TagsFailed    int   `json:"tags_failed"`
	BlobsUploaded int   `json:"blobs_uploaded"`
	BlobsMounted  int   `json:"blobs_mounted"`
	BytesMoved    int64 `json:"bytes_moved"`
	// TagsDiffering are the tags whose destination is not the source's
	// after the run: planned copies on a dry run, failures after one.
	TagsDiffering int     `json:"tags_differing"`
	Requests      int64   `json:"requests"`
	Seconds       float64 `json:"duration_seconds"`
	// Phase durations: reading both sides, copying, checking.
	PlanSeconds  float64 `json:"plan_seconds"`
	CopySeconds  float64 `json:"copy_seconds,omitempty"`
	CheckSeconds float64 `json:"check_seconds,omitempty"`
}

// MirrorResult is one mirror run.
type MirrorResult struct {
	Source      string        `json:"source"`
	Destination string        `json:"destination"`
	Applied     bool          `json:"applied"`
	Tags        []MirrorTag   `json:"tags"`
	Summary     MirrorSummary `json:"summary"`
	// Check is the deep check of every copied tag at the destination.
	Check *Report `json:"check,omitempty"`
	// Prune is the retention run that removes tags the source lacks.
	Prune  *RetentionResult `json:"prune,omitempty"`
	Errors []string         `json:"errors,omitempty"`
	Status job.Status       `json:"status"`
	Error  string           `json:"error,omitempty"`

	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
}

// mirror is one run in flight.
type mirror struct {
	src, dst *Client
	opts     MirrorOptions
	log      *slog.Logger
	res      *MirrorResult

	mu     sync.Mutex
	errs   []string
	errSet map[string]bool
	// present[repo][digest]: the destination repository has the blob.
	present map[string]map[string]bool
	// holder[digest]: a destination repository known to have the blob,
	// the source of a cross-repository mount.
	holder map[string]string
	// mirrored are the destination repositories whose tags were listed
	// on both sides: the only ones a prune may touch.
	mirrored map[string]bool

	reposDone, tagsDone atomic.Int64
	bytesMoved          atomic.Int64
	uploaded, mounted   atomic.Int64
	progMu              sync.Mutex
}

// Mirror plans a copy of the source's repositories to the destination
// and, with Apply, copies, checks and (with Prune) prunes. The same
// function serves `oci mirror` and the oci-mirror job.
//
// Plan: every tag of every matching source repository, resolved to its
// digest, against the destination's tag. Tags with the same digest are
// identical and left alone. For the others the whole image graph is read at
// the source (by digest, so that a tag moving meanwhile cannot mix two
// images) and every blob is asked for at the destination (HEAD).
//
// Copy: blobs the destination repository lacks are mounted from another
// destination repository that has them, else streamed from the source
// (verified while streaming; a corrupt source blob fails its tags and is
// never stored); then the manifests, children first, and the tag last, so
// an interrupted copy never leaves a tag on a partial image and a rerun
// plans only what is missing.
//
// Check: every copied tag is deep-checked at the destination and its digest
// compared with the source's; any difference fails the run.
func Mirror(ctx context.Context, src, dst *Client, opts MirrorOptions) *MirrorResult {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Streams <= 0 {
		opts.Streams = DefaultConcurrency
	}
	m := &mirror{
		src: src, dst: dst, opts: opts, log: opts.Logger,
		errSet:   map[string]bool{},
		present:  map[string]map[string]bool{},
		holder:   map[string]string{},
		mirrored: map[string]bool{},
		res: &MirrorResult{
			Source:      opts.Source.String(),
			Destination: opts.Destination.String(),
			Started:     opts.Now(),
			Status:      job.StatusOK,
		},
	}
	res := m.res
	defer func() { m.finish() }()
	t0 := opts.Now()
	err := m.plan(ctx)
	res.Summary.PlanSeconds = opts.Now().Sub(t0).Seconds()
	if err != nil {
		m.fail(err)
		return res
	}
	if opts.Prune {
		m.prune(ctx, false)
	}
	if !opts.Apply {
		return res
	}
	res.Applied = true
	t0 = opts.Now()
	m.copyAll(ctx)
	t1 := opts.Now()
	m.check(ctx)
	res.Summary.CopySeconds, res.Summary.CheckSeconds = t1.Sub(t0).Seconds(), opts.Now().Sub(t1).Seconds()
	if opts.Prune && res.Prune != nil && res.Prune.Plan != nil && !res.Prune.Plan.Refused && ctx.Err() == nil {
		m.prune(ctx, true)
	}
	return res
}

// fail records a reason the run is incomplete, once per message.
func (m *mirror) fail(err error) {
	msg := err.Error()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.errSet[msg] {
		return
	}
	m.errSet[msg] = true
	if len(m.errs) < maxErrors {
		m.errs = append(m.errs, msg)
	}
}

func (m *mirror) progress(phase string) {
	if m.opts.Progress == nil {
		return
	}
	m.progMu.Lock()
	defer m.progMu.Unlock()
	m.opts.Progress(MirrorProgress{
		Phase:      phase,
		ReposDone:  int(m.reposDone.Load()),
		Repos:      m.res.Summary.Repositories,
		TagsDone:   int(m.tagsDone.Load()),
		TagsToCopy: m.res.Summary.TagsToCopy,
		BytesMoved: m.bytesMoved.Load(),
		Requests:   m.src.Requests() + m.dst.Requests(),
	})
}

// isLiteral reports whether a pattern has no glob characters.
func isLiteral(p string) bool { return !strings.ContainsAny(p, `*?[\`) }

// sourceRepos lists the source repositories to mirror, relative to the
// source prefix. When every pattern is a literal name the catalog is not
// needed (registries such as Gitea's do not all serve one).
func (m *mirror) sourceRepos(ctx context.Context) ([]string, error) {
	pats := m.opts.Repos
	if len(pats) > 0 && !slices.ContainsFunc(pats, func(p string) bool { return !isLiteral(p) }) {
		out := slices.Clone(pats)
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	all, err := m.src.Catalog(ctx, m.opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("listing the source's repositories: %w", err)
	}
	var out []string
	for _, r := range all {
		rel, ok := m.opts.Source.rel(r)
		if !ok {
			continue
		}
		if len(pats) > 0 {
			if _, ok := matchAny(pats, rel); !ok {
				continue
			}
		}
		out = append(out, rel)
	}
	slices.Sort(out)
	return out, nil
}

// plan fills m.res.Tags. An error means nothing could be planned.
func (m *mirror) plan(ctx context.Context) error {
	rels, err := m.sourceRepos(ctx)
	if err != nil {
		return err
	}
	m.res.Summary.Repositories = len(rels)
	perRepo := make([][]MirrorTag, len(rels))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(2, cap(m.src.sem)/2))
	for i, rel := range rels {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			return fmt.Errorf("planning: %w", ctx.Err())
		}
		wg.Go(func() {
			defer func() { <-sem }()
			perRepo[i] = m.planRepo(ctx, rel)
			m.reposDone.Add(1)
			m.progress("planning")
		})
	}
	wg.Wait()
	for _, ts := range perRepo {
		m.res.Tags = append(m.res.Tags, ts...)
	}
	m.summarizePlan()
	return nil
}

// planRepo compares one repository's tags and reads what must be copied.
func (m *mirror) planRepo(ctx context.Context, rel string) []MirrorTag {
	srcRepo, dstRepo := m.opts.Source.repo(rel), m.opts.Destination.repo(rel)
	var srcTags, dstTags []TagRef
	var srcErr, dstErr error
	roots := map[string]*FetchedManifest{} // by digest, from the source's tag GETs
	bad := map[string]error{}              // tags whose manifest is broken at the source
	var wg sync.WaitGroup
	wg.Go(func() { srcTags, srcErr = m.sourceTags(ctx, srcRepo, roots, bad) })
	wg.Go(func() { dstTags, dstErr = NewRegistryBackend(m.dst, m.opts.PageSize).Tags(ctx, dstRepo) })
	wg.Wait()
	if srcErr != nil {
		m.fail(fmt.Errorf("source %s: %w", srcRepo, srcErr))
		return nil
	}
	if dstErr != nil {
		m.fail(fmt.Errorf("destination %s: %w", dstRepo, dstErr))
		return nil
	}
	m.mu.Lock()
	m.mirrored[dstRepo] = true
	m.mu.Unlock()
	have := map[string]string{}
	for _, t := range dstTags {
		have[t.Tag] = t.Digest
	}
	slices.SortFunc(srcTags, func(a, b TagRef) int { return strings.Compare(a.Tag, b.Tag) })
	tags := make([]MirrorTag, len(srcTags))
	graphs := map[string]*graphOnce{}
	for i, t := range srcTags {
		tags[i] = MirrorTag{Repo: srcRepo, Target: dstRepo, Tag: t.Tag, Digest: t.Digest, Previous: have[t.Tag], State: MirrorCopy}
		if err := bad[t.Tag]; err != nil {
			m.tagError(&tags[i], err)
			continue
		}
		if tags[i].Previous == t.Digest {
			tags[i].State = MirrorIdentical
			continue
		}
		if graphs[t.Digest] == nil {
			graphs[t.Digest] = &graphOnce{}
		}
	}
	// Read each distinct image once, then ask for its blobs.
	for dgst, g := range graphs {
		wg.Go(func() {
			g.g, g.err = readGraphBelow(ctx, m.src, srcRepo, dgst, roots[dgst])
			if g.err == nil {
				g.err = m.probeBlobs(ctx, dstRepo, g.g)
			}
		})
	}
	wg.Wait()
	for i := range tags {
		t := &tags[i]
		if t.State != MirrorCopy {
			continue
		}
		g := graphs[t.Digest]
		if g.err != nil {
			m.tagError(t, g.err)
			continue
		}
		t.graph = g.g
		t.MediaType = g.g.Root.MediaType
		t.Platforms = g.g.Platforms()
		t.Manifests = len(g.g.Manifests)
		t.Blobs = len(g.g.Blobs)
		m.mu.Lock()
		for _, b := range g.g.Blobs {
			if !m.present[dstRepo][b.Digest] {
				t.Missing++
				t.MissingBytes += b.Size
			}
		}
		m.mu.Unlock()
	}
	return tags
}

// sourceTags lists repo's tags at the source and GETs each tag's manifest
// (one request gives its digest and the root of its graph, which a HEAD
// and a GET by digest would take two for), keeping one root per digest.
// A repository without tags has none; a tag deleted meanwhile is left out.
func (m *mirror) sourceTags(ctx context.Context, repo string, roots map[string]*FetchedManifest, bad map[string]error) ([]TagRef, error) {
	names, err := m.src.Tags(ctx, repo, m.opts.PageSize)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	refs := make([]TagRef, len(names))
	fms := make([]*FetchedManifest, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*cap(m.src.sem))
	for i, tag := range names {
		if !ValidTag(tag) {
			errs[i] = fmt.Errorf("%w: repository %s: the tag list holds %q, which is not a tag", ErrMalformedResponse, repo, tag)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("reading tags of %s: %w", repo, ctx.Err())
		}
		wg.Go(func() {
			defer func() { <-sem }()
			fms[i], errs[i] = m.src.GetManifest(ctx, repo, tag)
			if errs[i] == nil {
				refs[i] = TagRef{Repo: repo, Tag: tag, Digest: fms[i].Digest}
			}
		})
	}
	wg.Wait()
	out := refs[:0]
	for i, r := range refs {
		switch {
		case errs[i] == nil:
			roots[r.Digest] = fms[i]
			out = append(out, r)
		case errors.Is(errs[i], ErrNotFound) && fms[i] == nil:
			// deleted meanwhile: not a tag any more
		case contentError(errs[i]):
			// A manifest that does not parse or verify: the tag exists
			// and fails.
			bad[names[i]] = errs[i]
			out = append(out, TagRef{Repo: repo, Tag: names[i]})
		default:
			return nil, errs[i]
		}
	}
	return out, nil
}

type graphOnce struct {
	g   *ImageGraph
	err error
}

// probeBlobs asks the destination repository for each blob of g not yet
// asked about.
func (m *mirror) probeBlobs(ctx context.Context, repo string, g *ImageGraph) error {
	p := NewPusher(m.dst)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, b := range g.Blobs {
		m.mu.Lock()
		if m.present[repo] == nil {
			m.present[repo] = map[string]bool{}
		}
		_, asked := m.present[repo][b.Digest]
		if !asked {
			m.present[repo][b.Digest] = false
		}
		m.mu.Unlock()
		if asked {
			continue
		}
		wg.Go(func() {
			ok, err := p.BlobExists(ctx, repo, b)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				m.mu.Lock()
				delete(m.present[repo], b.Digest)
				m.mu.Unlock()
				return
			}
			if ok {
				m.markPresent(repo, b.Digest)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// markPresent records that repo has blob digest at the destination.
func (m *mirror) markPresent(repo, digest string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.present[repo] == nil {
		m.present[repo] = map[string]bool{}
	}
	m.present[repo][digest] = true
	if _, ok := m.holder[digest]; !ok {
		m.holder[digest] = repo
	}
}

// tagError marks t failed when err is about the image's content (missing
// or corrupt at the source, refused by the destination) and records it
// as a reason the run is incomplete otherwise (network, 5xx, auth, time).
func (m *mirror) tagError(t *MirrorTag, err error) {
	t.State = MirrorFailed
	t.Error = err.Error()
	if !contentError(err) {
		m.fail(fmt.Errorf("%s: %w", t.Subject(), err))
	}
}

// contentError reports whether err is about what an image is (its pieces
// missing, corrupt or refused) rather than about reaching the registry.
func contentError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRequestTimeout) || errors.Is(err, ErrRetriesExhausted) {
		return false
	}
	for _, s := range []error{ErrNotFound, ErrDigestMismatch, ErrSizeMismatch, ErrEmptyBody, ErrInvalidManifest, ErrUnsupportedMedia} {
		if errors.Is(err, s) {
			return true
		}
	}
	// A 4xx other than auth: the destination refused what it was given.
	s := StatusOf(err)
	return s >= 400 && s < 500 && s != 401 && s != 403 && s != 429
}

// summarizePlan counts the plan: blobs to upload (each distinct digest
// once for the registry) and to mount (known in another repository).
func (m *mirror) summarizePlan() {
	s := &m.res.Summary
	upload := map[string]bool{}
	mount := map[string]bool{}
	for _, t := range m.res.Tags {
		switch t.State {
		case MirrorIdentical:
			s.TagsIdentical++
			continue
		case MirrorCopy:
			s.TagsToCopy++
		default:
			continue
		}
		for _, b := range t.graph.Blobs {
			key := t.Target + "@" + b.Digest
			if m.present[t.Target][b.Digest] || upload[key] || mount[key] {
				continue
			}
			if _, ok := m.holder[b.Digest]; ok || upload[b.Digest] {
				mount[key] = true
				s.BlobsToMount++
				continue
			}
			upload[b.Digest] = true
			upload[key] = true
			s.BlobsToUpload++
			s.BytesToMove += b.Size
		}
	}
}

// prune runs retention at the destination: keep exactly the source's
// tags of each mirrored repository. A dry run first (the plan shown and
// braked), then with apply the deletions.
func (m *mirror) prune(ctx context.Context, apply bool) {
	// A repository the source lists without tags keeps none (the brake
	// decides whether that may happen); one whose listing failed is not
	// in mirrored and is left alone.
	keep := map[string][]string{}
	var order []string
	for repo := range m.mirrored {
		keep[repo] = []string{}
		order = append(order, repo)
	}
	slices.Sort(order)
	for _, t := range m.res.Tags {
		keep[t.Target] = append(keep[t.Target], t.Tag)
	}
	if len(order) == 0 {
		return
	}
	policy := RetentionPolicy{
		// Repositories not mirrored keep everything (they are not
		// gathered anyway: Repos names the mirrored ones).
		Default:        RetentionRule{Keep: 1 << 30},
		MaxDeleteShare: m.opts.MaxDeleteShare,
		Force:          m.opts.Force,
	}
	var pats []string
	for _, repo := range order {
		// Repository names and tags hold no glob characters: as patterns
		// they match themselves only.
		policy.Rules = append(policy.Rules, RetentionRule{Repos: []string{repo}, Keep: 0, KeepTags: keep[repo]})
		pats = append(pats, repo)
	}
	chk := CheckOptions{Depth: DepthBlobs, PageSize: m.opts.PageSize}
	b := pruneBackend{RetentionBackend: NewRegistryBackend(m.dst, m.opts.PageSize), now: m.res.Started}
	res := Retain(ctx, b, m.dst, RetentionOptions{
		Policy: policy, Repos: pats, Apply: apply, Check: chk, Logger: m.log, Now: m.opts.Now,
	})
	m.res.Prune = res
}

// pruneBackend gives every tag a creation time (the run's start), so
// that the retention planner ranks none of them by age: a prune keeps
// exactly the source's tags, whatever their images' ages, and reads no
// config blobs to learn them.
type pruneBackend struct {
	RetentionBackend
	now time.Time
}

func (b pruneBackend) Tags(ctx context.Context, repo string) ([]TagRef, error) {
	ts, err := b.RetentionBackend.Tags(ctx, repo)
	for i := range ts {
		if ts[i].Created.IsZero() {
			ts[i].Created = b.now
		}
	}
	return ts, err
}

// finish sets the summary, the status and the error.
func (m *mirror) finish() {
	r := m.res
	r.Duration = m.opts.Now().Sub(r.Started)
	s := &r.Summary
	s.TagsCopied, s.TagsFailed, s.TagsDiffering = 0, 0, 0
	for _, t := range r.Tags {
		switch t.State {
		case MirrorCopied:
			s.TagsCopied++
		case MirrorFailed:
			s.TagsFailed++
			s.TagsDiffering++
		case MirrorCopy, MirrorSkipped:
			s.TagsDiffering++
		}
	}
	s.BlobsUploaded = int(m.uploaded.Load())
	s.BlobsMounted = int(m.mounted.Load())
	s.BytesMoved = m.bytesMoved.Load()
	s.Requests = m.src.Requests() + m.dst.Requests()
	s.Seconds = r.Duration.Seconds()
	m.mu.Lock()
	r.Errors = slices.Clone(m.errs)
	m.mu.Unlock()
	status := job.StatusOK
	var why []string
	if s.TagsFailed > 0 {
		status = job.StatusFailed
		why = append(why, fmt.Sprintf("%d tags could not be copied or differ after copying", s.TagsFailed))
	}
	if r.Check != nil && r.Check.Status == job.StatusFailed {
		status = job.StatusFailed
	}
	if r.Prune != nil {
		status = job.Worst(status, r.Prune.Status)
		if r.Prune.Error != "" {
			why = append(why, "prune: "+r.Prune.Error)
		}
	}
	if len(r.Errors) > 0 {
		status = job.StatusIncomplete
		why = append([]string{r.Errors[0]}, why...)
		if len(r.Errors) > 1 {
			why[0] += fmt.Sprintf(" (and %d more errors)", len(r.Errors)-1)
		}
	}
	r.Status = status
	r.Error = strings.Join(why, "; ")
}
