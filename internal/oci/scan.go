package oci

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ScanOptions configure Scan. The zero value is usable.
type ScanOptions struct {
	// Workers bounds the goroutines reading the tree (default
	// DefaultScanWorkers()).
	Workers int
	// StaleUpload is the age past which an unfinished upload is stale
	// (default 24h; the registry itself purges uploads after 168h).
	StaleUpload time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultStaleUpload is ScanOptions.StaleUpload's default.
const DefaultStaleUpload = 24 * time.Hour

// storedManifest is one manifest blob as read from disk.
type storedManifest struct {
	m     *Manifest
	refs  []string // Docker schema1: its blobSums (the registry still serves these)
	state string   // "" when whole, else StateInvalid, StateUnsupported or StateCorrupt
	msg   string
}

// children returns the manifests an index points at.
func (sm *storedManifest) children() []Descriptor {
	if sm == nil || sm.m == nil || !sm.m.IsIndex() {
		return nil
	}
	return sm.m.Manifests
}

// scanner holds one scan's state.
type scanner struct {
	fs   *storageFS
	opts ScanOptions

	mu    sync.Mutex
	blobs map[string]blobInfo
	// blobsUnknown holds "" (blobs/ itself), "<alg>" and "<alg>/<xx>" for
	// directories that could not be listed.
	blobsUnknown map[string]bool
	repos        []*repoScan
	manifests    map[string]*storedManifest
}

// Scan reads registry:2 filesystem storage below root (the registry's
// storage.filesystem.rootdirectory) and reports what is broken, dangling,
// unreachable and half-uploaded. It only reads. The report is always
// returned; the error is non-nil (wrapping ErrNotStorageRoot or the open
// error) when root cannot be scanned at all, and the report is then
// incomplete.
func Scan(ctx context.Context, root string, opts ScanOptions) (*ScanReport, error) {
	if opts.Workers < 1 {
		opts.Workers = DefaultScanWorkers()
	}
	if opts.StaleUpload <= 0 {
		opts.StaleUpload = DefaultStaleUpload
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	start := opts.Now()
	rep := &ScanReport{Root: root, Started: start}
	fsys, err := openStorage(root)
	if err != nil {
		rep.Errors = []string{err.Error()}
		rep.Duration = time.Since(start)
		rep.finish()
		return rep, err
	}
	defer fsys.close()
	sc := &scanner{fs: fsys, opts: opts, blobs: map[string]blobInfo{}, blobsUnknown: map[string]bool{}, manifests: map[string]*storedManifest{}}
	// Links first: then the blob walk knows which blobs are manifests and
	// reads those instead of stat'ing them.
	sc.findRepos(ctx)
	sc.readLinks(ctx, sc.listRepos(ctx))
	sc.scanBlobs(ctx, sc.linkedManifests())
	sc.readManifests(ctx)
	if err := ctx.Err(); err != nil {
		fsys.fail(fmt.Errorf("scan stopped: %w", err))
	}
	sc.resolve(rep)
	rep.Errors = fsys.errs
	rep.Refused = fsys.refused
	rep.Duration = time.Since(start)
	rep.finish()
	opts.Logger.Debug("scan done", "root", root, "repositories", rep.Summary.Repositories, "blobs", rep.Summary.Blobs, "duration", rep.Duration)
	return rep, nil
}

// linkedManifests is every digest a tag or revision link names.
func (sc *scanner) linkedManifests() map[string]bool {
	want := map[string]bool{}
	for _, rs := range sc.repos {
		for _, l := range rs.tags {
			if l.target != "" {
				want[l.target] = true
			}
		}
		for d := range rs.revisions {
			want[d] = true
		}
	}
	return want
}

// readManifests reads and parses every manifest a tag or revision link
// names that the blob walk has not read already, then, round by round,
// the children of the indexes among them (they may survive unlinked, and
// still name the layers they lost).
func (sc *scanner) readManifests(ctx context.Context) {
	want := sc.linkedManifests()
	for d := range want {
		for _, c := range sc.manifests[d].children() {
			want[c.Digest] = true // an unlinked child the blob walk did not read
		}
	}
	for len(want) > 0 && ctx.Err() == nil {
		// One task per blobs/<alg>/<xx> directory: each manifest is then
		// opened two components below a directory already open.
		groups := map[string][]string{}
		for d := range want {
			if _, done := sc.manifests[d]; !done && sc.blobs[d].state == present {
				alg, enc, _ := strings.Cut(d, ":")
				groups[alg+"/"+enc[:2]] = append(groups[alg+"/"+enc[:2]], d)
			}
		}
		prefixes := slices.Collect(maps.Keys(groups))
		got := make([]map[string]*storedManifest, len(prefixes))
		forEach(ctx, sc.opts.Workers, len(prefixes), func(i int) {
			got[i] = sc.readManifestsIn(prefixes[i], groups[prefixes[i]])
		})
		want = map[string]bool{}
		for _, ms := range got {
			for d, sm := range ms {
				sc.manifests[d] = sm
				for _, c := range sm.children() {
					want[c.Digest] = true
				}
			}
		}
	}
}

// readManifestsIn reads and parses the manifests ds, all in the blob
// directory blobs/<prefix>. An unreadable one is left out (and recorded).
func (sc *scanner) readManifestsIn(prefix string, ds []string) map[string]*storedManifest {
	h, st := sc.fs.openDir("blobs/" + prefix)
	if st != present {
		return nil
	}
	defer h.close()
	out := make(map[string]*storedManifest, len(ds))
	for _, d := range ds {
		if sm := sc.readManifest(h, d); sm != nil {
			out[d] = sm
		}
	}
	return out
}

// readManifest reads and parses the blob d, or returns nil when it could
// not be read (the error is recorded).
func (sc *scanner) readManifest(h *dirHandle, d string) *storedManifest {
	if sc.blobs[d].size > maxManifestSize {
		return &storedManifest{state: StateInvalid, msg: fmt.Sprintf("%d bytes: too large to be a manifest", sc.blobs[d].size)}
	}
	_, enc, _ := strings.Cut(d, ":")
	body, st := sc.fs.readFile(h, enc+"/data", int(sc.blobs[d].size))
	if st != present {
		return nil
	}
	return parseStored(d, body)
}

// forEach calls fn(i) for i in [0, n) on up to workers goroutines, and
// stops handing out work when ctx ends.
func forEach(ctx context.Context, workers, n int, fn func(i int)) {
	if workers < 1 {
		workers = 1
	}
	workers = min(workers, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// DefaultScanWorkers is the scan's parallelism unless told: enough to keep
// the disk's queue full on a small machine.
func DefaultScanWorkers() int { return max(8, 2*runtime.NumCPU()) }
