package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// storageDir is where registry:2's filesystem driver keeps everything,
// below its rootdirectory.
const storageDir = "docker/registry/v2"

// ErrNotStorageRoot means a path is not registry:2 filesystem storage: not
// a directory, or no docker/registry/v2 below it.
var ErrNotStorageRoot = errors.New("not a registry:2 storage root")

// RefusedPath is an entry the scan did not follow: a symbolic link. The
// registry never writes one, and one that leads outside the storage root
// could make a scan read (and report on) anything on the host.
type RefusedPath struct {
	Path    string `json:"path"` // relative to the storage root
	Target  string `json:"target,omitempty"`
	Outside bool   `json:"outside_root"`
}

// presence is what the scan knows about a file.
type presence uint8

const (
	absent  presence = iota // not there
	present                 // there and read
	unknown                 // refused or unreadable: the scan is incomplete
)

// storageFS reads below <root>/docker/registry/v2 through an os.Root, so
// that no symbolic link or ".." ever leads outside, and never writes. Every
// path it takes is relative to that directory. Errors and refused paths are
// collected, not returned: the scan goes on and ends incomplete.
type storageFS struct {
	root *os.Root

	mu      sync.Mutex
	refused []RefusedPath
	errs    []string
}

// openStorage opens root's docker/registry/v2 directory. Its errors wrap
// ErrNotStorageRoot when root is not registry storage.
func openStorage(root string) (*storageFS, error) {
	st, err := os.Stat(root)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotStorageRoot, root)
	case err != nil:
		return nil, fmt.Errorf("opening storage root %s: %w", root, err)
	case !st.IsDir():
		return nil, fmt.Errorf("%w: %s is not a directory", ErrNotStorageRoot, root)
	}
	top, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("opening storage root %s: %w", root, err)
	}
	defer top.Close()
	v2, err := top.OpenRoot(storageDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			hint := ""
			if path.Base(root) == "v2" {
				hint = " (pass the registry's rootdirectory, the directory that holds docker/)"
			}
			return nil, fmt.Errorf("%w: %s has no %s directory%s", ErrNotStorageRoot, root, storageDir, hint)
		}
		return nil, fmt.Errorf("opening %s in %s: %w", storageDir, root, err)
	}
	return &storageFS{root: v2}, nil
}

func (s *storageFS) close() { s.root.Close() }

// fail records an error that leaves the scan incomplete.
func (s *storageFS) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < 100 {
		s.errs = append(s.errs, err.Error())
	}
}

// refuse records a symbolic link the scan does not follow.
func (s *storageFS) refuse(p string) {
	target, _ := s.root.Readlink(p)
	outside := false
	if _, err := s.root.Stat(p); err != nil && escapes(err) {
		outside = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused = append(s.refused, RefusedPath{Path: path.Join(storageDir, p), Target: target, Outside: outside})
}

// escapes reports whether err is os.Root refusing a path that leads
// outside it. os does not export the error, only its text.
func escapes(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// classify turns an error about p into what the scan knows: absent, or
// unknown (refused or recorded as an error).
func (s *storageFS) classify(p string, err error) presence {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return absent
	case escapes(err):
		s.refuse(p)
	default:
		s.fail(fmt.Errorf("reading %s: %w", path.Join(storageDir, p), err))
	}
	return unknown
}

// listing is what list found in a directory.
type listing struct {
	ents    []fs.DirEntry // subdirectories and files
	refused []string      // names of symbolic links, recorded and not followed
	state   presence      // absent when the directory is not there
}

// list lists dir. Symbolic links are refused, never followed, so that no
// walk can loop or leave the root.
func (s *storageFS) list(dir string) listing {
	return s.listIn(s.root, dir, dir)
}

// listIn lists dir inside r; shown is dir's path below docker/registry/v2.
func (s *storageFS) listIn(r *os.Root, dir, shown string) listing {
	f, err := r.Open(dir)
	if err != nil {
		return listing{state: s.classify(shown, err)}
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return listing{state: s.classify(shown, err)}
	}
	l := listing{ents: ents[:0], state: present}
	for _, e := range ents {
		if e.Type()&fs.ModeSymlink != 0 {
			s.refuse(path.Join(shown, e.Name()))
			l.refused = append(l.refused, e.Name())
			continue
		}
		l.ents = append(l.ents, e)
	}
	return l
}

// linkEntry is one link file: a tag's current link, or a revision or
// layer link.
type linkEntry struct {
	state   presence
	target  string // the digest it holds, when valid
	invalid string // what it holds instead, when not a digest
}

// readLinkIn reads the link file p inside r (shown is its path for
// messages).
func (s *storageFS) readLinkIn(r *os.Root, p, shown string) linkEntry {
	b, err := r.ReadFile(p)
	if err != nil {
		return linkEntry{state: s.classify(shown, err)}
	}
	d, ok := ParseLinkFile(b)
	if !ok {
		return linkEntry{state: present, invalid: quoteShort(b)}
	}
	return linkEntry{state: present, target: d}
}

// ParseLinkFile parses the content of a registry:2 link file: exactly one
// digest, no newline, as the registry writes and insists on reading.
func ParseLinkFile(b []byte) (string, bool) {
	if len(b) > 200 {
		return "", false
	}
	s := string(b)
	return s, ValidDigest(s)
}

func quoteShort(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%q... (%d bytes)", b[:80], len(b))
	}
	return fmt.Sprintf("%q", b)
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

// digestFromDir turns a link or blob directory name under an algorithm
// directory into a digest, or "" when it is not one.
func digestFromDir(alg, name string) string {
	d := alg + ":" + name
	if !ValidDigest(d) || !slices.Contains([]string{"sha256", "sha512"}, alg) {
		return ""
	}
	return d
}
