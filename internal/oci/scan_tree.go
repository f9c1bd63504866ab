package oci

import (
	"context"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// blobInfo is one blob under blobs/: its data file's size when present.
type blobInfo struct {
	state presence
	size  int64
}

// repoScan is what one repository directory holds.
type repoScan struct {
	name string

	mu        sync.Mutex
	tags      map[string]linkEntry // tag → its current/link
	revisions map[string]linkEntry // digest (from the directory name) → link
	layers    map[string]linkEntry
	uploads   []Upload
	// unknown holds the link kinds (LinkRevision, LinkLayer) whose
	// directory could not be fully listed: a link not seen may exist.
	unknown map[string]bool
}

// link is what the scan knows about the repository's link of kind to d.
func (rs *repoScan) link(kind, d string) linkEntry {
	m := rs.revisions
	if kind == LinkLayer {
		m = rs.layers
	}
	if l, ok := m[d]; ok {
		return l
	}
	if rs.unknown[kind] {
		return linkEntry{state: unknown}
	}
	return linkEntry{state: absent}
}

// Upload is an upload under a repository's _uploads: started and never
// finished (or still running, if the registry is).
type Upload struct {
	Repo    string    `json:"repository"`
	ID      string    `json:"id"`
	Started time.Time `json:"started,omitzero"`
	Bytes   int64     `json:"bytes"`
	// Stale is true when it started longer ago than ScanOptions.StaleUpload
	// (or its start time is unreadable): no client is coming back for it.
	Stale bool `json:"stale"`
}

// findRepos walks repositories/ level by level: a directory holding
// _manifests, _layers or _uploads is a repository, and may hold nested
// repositories beside them.
func (sc *scanner) findRepos(ctx context.Context) {
	level := []string{""}
	for len(level) > 0 && ctx.Err() == nil {
		var (
			mu   sync.Mutex
			next []string
		)
		forEach(ctx, sc.opts.Workers, len(level), func(i int) {
			dir := level[i]
			l := sc.fs.list(path.Join("repositories", dir))
			isRepo := false
			var subs []string
			for _, e := range l.ents {
				if !e.IsDir() {
					continue
				}
				switch name := e.Name(); {
				case name == "_manifests" || name == "_layers" || name == "_uploads":
					isRepo = true
				case strings.HasPrefix(name, "_"):
				default:
					subs = append(subs, path.Join(dir, name))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			next = append(next, subs...)
			if isRepo && dir != "" {
				sc.repos = append(sc.repos, &repoScan{name: dir, unknown: map[string]bool{},
					tags: map[string]linkEntry{}, revisions: map[string]linkEntry{}, layers: map[string]linkEntry{}})
			}
		})
		level = next
	}
	slices.SortFunc(sc.repos, func(a, b *repoScan) int { return strings.Compare(a.name, b.name) })
}

// linkBatch is up to linkBatchSize link files of one kind in one
// repository, read through one os.Root opened on their directory.
type linkBatch struct {
	repo  *repoScan
	dir   string // below the repository: _manifests/tags, _manifests/revisions/sha256, _layers/sha256
	alg   string // empty for tags
	names []string
}

const linkBatchSize = 512

// listRepos lists every repository's tags, revisions, layer links and
// uploads, and returns the link files to read in batches.
func (sc *scanner) listRepos(ctx context.Context) []linkBatch {
	var (
		mu      sync.Mutex
		batches []linkBatch
	)
	forEach(ctx, sc.opts.Workers, len(sc.repos), func(i int) {
		rs := sc.repos[i]
		base := "repositories/" + rs.name + "/"
		var mine []linkBatch
		add := func(dir, alg string) {
			h, st := sc.fs.openDir(base + dir)
			var names []string
			if st == present {
				var all []string
				all, st = sc.fs.listNames(h)
				h.close()
				for _, name := range all {
					if alg == "" || digestFromDir(alg, name) != "" {
						names = append(names, name)
					}
				}
			}
			if st == unknown {
				rs.mu.Lock()
				rs.unknown[kindOf(dir)] = true
				rs.mu.Unlock()
			}
			for len(names) > 0 {
				n := min(len(names), linkBatchSize)
				mine = append(mine, linkBatch{repo: rs, dir: dir, alg: alg, names: names[:n]})
				names = names[n:]
			}
		}
		add("_manifests/tags", "")
		for _, kind := range []string{"_manifests/revisions", "_layers"} {
			algs := sc.fs.list(base + kind)
			if algs.state == unknown || len(algs.refused) > 0 {
				rs.mu.Lock()
				rs.unknown[kindOf(kind)] = true
				rs.mu.Unlock()
			}
			for _, a := range algs.ents {
				if a.IsDir() {
					add(kind+"/"+a.Name(), a.Name())
				}
			}
		}
		sc.listUploads(rs)
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, mine...)
	})
	return batches
}

// readLinks reads every batch's link files.
func (sc *scanner) readLinks(ctx context.Context, batches []linkBatch) {
	forEach(ctx, sc.opts.Workers, len(batches), func(i int) {
		b := batches[i]
		dir := "repositories/" + b.repo.name + "/" + b.dir
		h, st := sc.fs.openDir(dir)
		got := make(map[string]linkEntry, len(b.names))
		if st != present {
			for _, name := range b.names {
				got[name] = linkEntry{state: unknown}
			}
		} else {
			defer h.close()
			for _, name := range b.names {
				p := name + "/link"
				if b.alg == "" {
					p = name + "/current/link"
				}
				got[name] = sc.fs.readLink(h, p)
			}
		}
		b.repo.mu.Lock()
		defer b.repo.mu.Unlock()
		for name, l := range got {
			// A revision or layer directory without its link is what a
			// manifest or blob DELETE leaves behind: nothing points here.
			if b.alg == "" || l.state != absent {
				b.repo.set(b.dir, b.alg, name, l)
			}
		}
	})
}

// kindOf maps a directory below a repository to its link kind.
func kindOf(dir string) string {
	switch {
	case strings.HasPrefix(dir, "_layers"):
		return LinkLayer
	case strings.HasPrefix(dir, "_manifests/revisions"):
		return LinkRevision
	}
	return "tag"
}

// set records link name (a tag, or a digest's hex) read in dir; the
// caller holds rs.mu.
func (rs *repoScan) set(dir, alg, name string, l linkEntry) {
	switch kindOf(dir) {
	case "tag":
		rs.tags[name] = l
	case LinkLayer:
		rs.layers[alg+":"+name] = l
	default:
		rs.revisions[alg+":"+name] = l
	}
}

// listUploads records the repository's uploads: _uploads/<id>/data and
// startedat (RFC 3339).
func (sc *scanner) listUploads(rs *repoScan) {
	dir := "repositories/" + rs.name + "/_uploads"
	for _, e := range sc.fs.list(dir).ents {
		if !e.IsDir() {
			continue
		}
		u := Upload{Repo: rs.name, ID: e.Name()}
		p := dir + "/" + e.Name()
		switch fi, err := sc.fs.root.Lstat(p + "/data"); {
		case err != nil:
			sc.fs.classify(p+"/data", err)
		case fi.Mode()&fs.ModeSymlink != 0:
			sc.fs.refuse(p + "/data")
		default:
			u.Bytes = fi.Size()
		}
		b, err := sc.fs.root.ReadFile(p + "/startedat")
		if err != nil {
			sc.fs.classify(p+"/startedat", err)
		} else if t, ok := ParseStartedAt(b); ok {
			u.Started = t
		}
		u.Stale = u.Started.IsZero() || sc.opts.Now().Sub(u.Started) > sc.opts.StaleUpload
		rs.uploads = append(rs.uploads, u)
	}
}
