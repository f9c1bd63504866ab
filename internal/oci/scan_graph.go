package oci

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Link kinds a DanglingLink names.
const (
	LinkRevision = "revision" // _manifests/revisions/<alg>/<hex>/link
	LinkLayer    = "layer"    // _layers/<alg>/<hex>/link
)

// StateUnlinked is a piece whose blob data is on disk but which the
// repository has no link to: the registry answers 404 for it all the same.
const StateUnlinked = "unlinked"

// tagReach is everything one tag reaches, whole or not: what gc-preflight
// must never see on the collector's list.
type tagReach struct {
	repo, tag string
	manifests []string // the tag's manifest and every child manifest
	blobs     []string // configs and layers
}

// imageWalk resolves one tag in memory, from what the scan read.
type imageWalk struct {
	sc      *scanner
	rs      *repoScan
	top     string
	tr      *tagReach
	reached map[string]bool
	stack   map[string]bool
}

// resolve turns what the scan read into the report: broken images, what
// each tag reaches, dangling links, invalid manifests, unreachable blobs
// and uploads.
func (sc *scanner) resolve(rep *ScanReport) {
	reached := map[string]bool{}
	for _, rs := range sc.repos {
		for _, tag := range slices.Sorted(maps.Keys(rs.tags)) {
			l := rs.tags[tag]
			if l.state == unknown {
				continue
			}
			tr := &tagReach{repo: rs.name, tag: tag}
			img := BrokenImage{Repo: rs.name, Tag: tag, Digest: l.target}
			switch {
			case l.state == absent:
				img.Problems = []Problem{{Kind: KindManifest, State: StateMissing, Message: "the tag has no current/link"}}
			case l.invalid != "":
				img.Problems = []Problem{{Kind: KindManifest, State: StateInvalid, Message: "its current/link holds " + l.invalid + ", not a digest"}}
			default:
				w := &imageWalk{sc: sc, rs: rs, top: l.target, tr: tr, reached: reached, stack: map[string]bool{}}
				img.Problems = w.manifest(Descriptor{Digest: l.target}, KindManifest, "", "")
			}
			rep.reach = append(rep.reach, *tr)
			if len(img.Problems) > 0 {
				rep.Broken = append(rep.Broken, img)
			}
		}
		rep.Summary.Tags += len(rs.tags)
		rep.Uploads = append(rep.Uploads, rs.uploads...)
	}
	rep.Summary.Repositories = len(sc.repos)
	rep.Summary.Manifests = len(sc.manifests)
	sc.links(rep)
	sc.unreachable(rep, reached)
}

// linkProblem says what is wrong with a link, or "" when it points at d.
func linkProblem(kind string, l linkEntry, d string) string {
	switch {
	case l.state == absent:
		return "no " + kind + " link in this repository"
	case l.state == unknown:
		return ""
	case l.invalid != "":
		return "its " + kind + " link holds " + l.invalid + ", not a digest"
	case l.target != d:
		return "its " + kind + " link points at " + l.target
	}
	return ""
}

// problem makes a problem about d, named as the walker names them: the
// parent manifest only when it is not the image's own.
func (w *imageWalk) problem(kind, state, d, parent, platform, msg string) Problem {
	p := Problem{Kind: kind, State: state, Digest: d, Platform: platform, Message: msg}
	if parent != w.top {
		p.Manifest = parent
	}
	return p
}

// manifest checks manifest d (the tag's own, or a child of parent) and
// everything below it.
func (w *imageWalk) manifest(d Descriptor, kind, parent, platform string) []Problem {
	dg := d.Digest
	w.tr.manifests = append(w.tr.manifests, dg)
	w.reached[dg] = true
	if w.stack[dg] {
		return []Problem{w.problem(kind, StateInvalid, dg, parent, platform, "an index that contains itself")}
	}
	w.stack[dg] = true
	defer delete(w.stack, dg)
	b := w.sc.blob(dg)
	lp := linkProblem(LinkRevision, w.rs.link(LinkRevision, dg), dg)
	switch b.state {
	case unknown:
		return nil
	case absent:
		msg := "blob data gone"
		if lp != "" {
			msg += ", and " + lp
		}
		return []Problem{w.problem(kind, StateMissing, dg, parent, platform, msg)}
	}
	var ps []Problem
	if lp != "" {
		ps = append(ps, w.problem(kind, StateUnlinked, dg, parent, platform, "blob data present, but "+lp))
	}
	sm := w.sc.manifests[dg]
	switch {
	case sm == nil:
		return ps // unreadable: recorded as an error
	case sm.state != "":
		return append(ps, w.problem(kind, sm.state, dg, parent, platform, sm.msg))
	case sm.m == nil: // schema1
		for _, r := range sm.refs {
			ps = append(ps, w.blob(Descriptor{Digest: r, Size: -1}, KindLayer, dg, platform)...)
		}
		return ps
	case sm.m.IsIndex():
		for _, c := range sm.m.Manifests {
			ps = append(ps, w.manifest(c, KindChildManifest, dg, c.Platform.String())...)
		}
		return ps
	}
	ps = append(ps, w.blob(sm.m.Config, KindConfig, dg, platform)...)
	for _, l := range sm.m.Layers {
		ps = append(ps, w.blob(l, KindLayer, dg, platform)...)
	}
	return ps
}

// blob checks a config or layer blob of manifest parent.
func (w *imageWalk) blob(d Descriptor, kind, parent, platform string) []Problem {
	dg := d.Digest
	w.tr.blobs = append(w.tr.blobs, dg)
	w.reached[dg] = true
	b := w.sc.blob(dg)
	lp := linkProblem(LinkLayer, w.rs.link(LinkLayer, dg), dg)
	switch b.state {
	case unknown:
		return nil
	case absent:
		msg := "blob data gone"
		if lp != "" {
			msg += ", and " + lp
		}
		return []Problem{w.problem(kind, StateMissing, dg, parent, platform, msg)}
	}
	var ps []Problem
	if lp != "" {
		ps = append(ps, w.problem(kind, StateUnlinked, dg, parent, platform, "blob data present, but "+lp))
	}
	if d.Size >= 0 && d.Size != b.size {
		ps = append(ps, w.problem(kind, StateCorrupt, dg, parent, platform,
			fmt.Sprintf("%d bytes on disk, the manifest says %d", b.size, d.Size)))
	}
	return ps
}

// links reports revision and layer links that point at no blob data, or
// hold no digest, and the revision-linked manifests that do not parse.
func (sc *scanner) links(rep *ScanReport) {
	type key struct{ repo, kind, digest string }
	at := map[key]int{} // dangling link → its index in rep.DanglingLinks
	for _, rs := range sc.repos {
		for _, kind := range []string{LinkRevision, LinkLayer} {
			ls := rs.revisions
			if kind == LinkLayer {
				ls = rs.layers
			}
			for _, d := range slices.Sorted(maps.Keys(ls)) {
				l := ls[d]
				dl := DanglingLink{Repo: rs.name, Kind: kind, Digest: d}
				switch b := sc.blob(l.target); {
				case l.state != present:
					continue
				case l.invalid != "" || l.target != d:
					dl.State, dl.Message = StateInvalid, linkProblem(kind, l, d)
				case b.state == absent:
					dl.State, dl.Message = StateMissing, "blob data gone"
				case kind == LinkRevision && b.state == present && sc.manifests[d] != nil && sc.manifests[d].state != "":
					sm := sc.manifests[d]
					rep.InvalidManifests = append(rep.InvalidManifests, StoredManifest{Repo: rs.name, Digest: d, State: sm.state, Message: sm.msg})
					continue
				default:
					continue
				}
				at[key{rs.name, kind, d}] = len(rep.DanglingLinks)
				rep.DanglingLinks = append(rep.DanglingLinks, dl)
			}
		}
	}
	if len(at) == 0 {
		return
	}
	for _, tr := range rep.reach {
		for kind, ds := range map[string][]string{LinkRevision: tr.manifests, LinkLayer: tr.blobs} {
			for _, d := range dedupe(ds) {
				if i, ok := at[key{tr.repo, kind, d}]; ok {
					rep.DanglingLinks[i].NeededBy++
				}
			}
		}
	}
}

// unreachable lists the blobs no tag reaches, and marks those a plain
// garbage-collect would delete: it keeps every manifest that has a
// revision link, and what that manifest references, tagged or not.
func (sc *scanner) unreachable(rep *ScanReport, reached map[string]bool) {
	marked := map[string]bool{}
	for _, rs := range sc.repos {
		for d, l := range rs.revisions {
			if l.target != d || sc.blobs[d].state != present {
				continue
			}
			marked[d] = true
			sm := sc.manifests[d]
			if sm == nil {
				continue
			}
			for _, r := range sm.refs {
				marked[r] = true
			}
			if sm.m != nil {
				marked[sm.m.Config.Digest] = true
				for _, x := range append(slices.Clone(sm.m.Layers), sm.m.Manifests...) {
					marked[x.Digest] = true
				}
			}
		}
	}
	rep.blobs = sc.blobs
	for d, b := range sc.blobs {
		if b.state != present {
			continue
		}
		rep.Summary.Blobs++
		if !reached[d] {
			rep.Unreachable = append(rep.Unreachable, UnreachableBlob{Digest: d, Size: b.size, PlainGC: !marked[d]})
		}
	}
	slices.SortFunc(rep.Unreachable, func(a, b UnreachableBlob) int { return strings.Compare(a.Digest, b.Digest) })
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
