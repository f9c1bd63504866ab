package oci

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
)

// repoWalk is the walk of one repository. Concurrent tag walks share its
// nodes, so that each distinct manifest and blob is checked once per
// repository however many tags point at it.
type repoWalk struct {
	w    *walker
	repo string

	mu    sync.Mutex
	nodes map[string]*node
}

// node is one check (a manifest subtree or a blob), in flight or finished.
// problems are everything wrong below it; err means it could not be seen.
type node struct {
	done     chan struct{}
	problems []Problem
	err      error
}

// once runs check for key unless another walk already did or is doing it,
// and returns its outcome.
func (rw *repoWalk) once(key string, check func() ([]Problem, error)) ([]Problem, error) {
	rw.mu.Lock()
	if n, ok := rw.nodes[key]; ok {
		rw.mu.Unlock()
		<-n.done
		return slices.Clone(n.problems), n.err
	}
	n := &node{done: make(chan struct{})}
	rw.nodes[key] = n
	rw.mu.Unlock()
	defer close(n.done)
	n.problems, n.err = check()
	// Callers annotate their copy (platform, parent manifest); the node's
	// own stays as checked for the next tag that shares it.
	return slices.Clone(n.problems), n.err
}

// walkTag checks one tag (or, with tag empty, one digest) and records a
// broken image or the reason it could not be seen.
func (rw *repoWalk) walkTag(ctx context.Context, tag, digest string) {
	w := rw.w
	defer func() {
		w.tagsDone.Add(1)
		w.progress()
	}()
	ref := tag
	if digest != "" {
		ref = digest
	}
	img := BrokenImage{Repo: rw.repo, Tag: tag, Digest: digest}
	fm, err := w.c.GetManifest(ctx, rw.repo, ref)
	if err != nil {
		p, seen := problemFor(KindManifest, digest, err)
		if !seen {
			w.fail(err)
			return
		}
		if fm != nil {
			img.Digest = fm.Digest
			p.Digest = fm.Digest
		}
		img.Problems = []Problem{p}
		w.broken(img)
		return
	}
	img.Digest = fm.Digest
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
	}
}

// walkContent checks what manifest m (with digest dgst) points at.
func (rw *repoWalk) walkContent(ctx context.Context, m *Manifest, dgst string) ([]Problem, error) {
	var (
		mu       sync.Mutex
		problems []Problem
		errs     []error
		wg       sync.WaitGroup
	)
	collect := func(ps []Problem, err error) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, ps...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if m.IsIndex() {
		for _, d := range m.Manifests {
			wg.Go(func() {
				ps, err := rw.child(ctx, d)
				for i := range ps {
					if ps[i].Platform == "" && d.Platform != nil {
						ps[i].Platform = d.Platform.String()
					}
				}
				collect(ps, err)
			})
		}
		wg.Wait()
		return problems, errors.Join(errs...)
	}
	if rw.w.opts.Depth == DepthManifests {
		return nil, nil
	}
	blobs := append([]Descriptor{m.Config}, m.Layers...)
	for i, d := range blobs {
		kind := KindLayer
		if i == 0 {
			kind = KindConfig
		}
		wg.Go(func() {
			ps, err := rw.blob(ctx, kind, d)
			collect(ps, err)
		})
	}
	wg.Wait()
	return problems, errors.Join(errs...)
}

// child checks an index's child manifest and everything below it.
func (rw *repoWalk) child(ctx context.Context, d Descriptor) ([]Problem, error) {
	ps, err := rw.once("m:"+d.Digest, func() ([]Problem, error) {
		rw.w.manifests.Add(1)
		fm, err := rw.w.c.GetManifest(ctx, rw.repo, d.Digest)
		if err != nil {
			p, seen := problemFor(KindChildManifest, d.Digest, err)
			if !seen {
				return nil, err
			}
			return []Problem{p}, nil
		}
		ps, err := rw.walkContent(ctx, fm.Manifest, d.Digest)
		for i := range ps {
			if ps[i].Manifest == "" && ps[i].Kind != KindChildManifest {
				ps[i].Manifest = d.Digest
			}
		}
		return ps, err
	})
	return ps, err
}

// blob checks one config or layer blob.
func (rw *repoWalk) blob(ctx context.Context, kind string, d Descriptor) ([]Problem, error) {
	ps, err := rw.once("b:"+d.Digest, func() ([]Problem, error) {
		rw.w.blobs.Add(1)
		var err error
		if proof, mine := rw.w.data.claim(ctx, d.Digest); !mine {
			err = rw.w.c.HeadBlob(ctx, rw.repo, d) // data proven elsewhere: prove the link
		} else {
			if rw.w.opts.VerifyDigests {
				err = rw.w.c.VerifyBlob(ctx, rw.repo, d)
			} else {
				err = rw.w.c.CheckBlob(ctx, rw.repo, d)
			}
			proof.settle(err == nil)
		}
		if err == nil {
			return nil, nil
		}
		p, seen := problemFor(kind, d.Digest, err)
		if !seen {
			return nil, err
		}
		return []Problem{p}, nil
	})
	// The same blob may be a config in one manifest and a layer in another;
	// name it as this manifest uses it.
	out := make([]Problem, len(ps))
	for i, p := range ps {
		p.Kind = kind
		out[i] = p
	}
	return out, err
}

// problemFor turns a check's error into a problem with the piece, or
// reports seen=false when the error means the piece could not be looked at
// (network, 5xx, auth, timeout): the walk is then incomplete, not failed.
func problemFor(kind, digest string, err error) (Problem, bool) {
	p := Problem{Kind: kind, Digest: digest, Status: StatusOf(err), Message: err.Error()}
	switch {
	case errors.Is(err, ErrNotFound):
		p.State = StateMissing
		p.Message = "not found"
		var se *StatusError
		if errors.As(err, &se) && se.Code != "" {
			p.Message += " (" + se.Code + ")"
		}
	case errors.Is(err, ErrEmptyBody):
		p.State = StateMissing
		p.Message = "the registry answered with an empty body: its data is gone"
	case errors.Is(err, ErrDigestMismatch), errors.Is(err, ErrSizeMismatch):
		p.State = StateCorrupt
		p.Message = innermost(err)
	case errors.Is(err, ErrUnsupportedMedia):
		p.State = StateUnsupported
		p.Message = innermost(err)
	case errors.Is(err, ErrInvalidManifest):
		p.State = StateInvalid
		p.Message = innermost(err)
	default:
		return Problem{}, false
	}
	return p, true
}

// innermost drops the "getting manifest repo:ref:" prefixes that the
// problem's fields already say.
func innermost(err error) string {
	for _, s := range []error{ErrDigestMismatch, ErrSizeMismatch, ErrUnsupportedMedia, ErrInvalidManifest} {
		if errors.Is(err, s) {
			msg := err.Error()
			if i := strings.Index(msg, s.Error()); i >= 0 {
				return msg[i:]
			}
		}
	}
	return err.Error()
}
