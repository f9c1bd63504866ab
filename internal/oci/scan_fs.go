package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
)

// storageDir is where registry:2's filesystem driver keeps everything,
// below its rootdirectory.
const storageDir = "docker/registry/v2"

// errSymlink is a path that went through a symbolic link (openat2
// refuses them all).
var errSymlink = errors.New("symbolic link not followed")

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

// refuse records a symbolic link the scan does not follow: p itself, or
// the first component of p that is one.
func (s *storageFS) refuse(p string) {
	link := p
	parts := strings.Split(p, "/")
	for i := range parts {
		q := strings.Join(parts[:i+1], "/")
		if fi, err := s.root.Lstat(q); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			link = q
			break
		}
	}
	target, _ := s.root.Readlink(link)
	outside := false
	if _, err := s.root.Stat(link); err != nil && escapes(err) {
		outside = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused = append(s.refused, RefusedPath{Path: path.Join(storageDir, link), Target: target, Outside: outside})
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
	case escapes(err), errors.Is(err, errSymlink):
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

// dirHandle is a directory opened through os.Root. Files inside it are
// opened relative to its descriptor with openat2, which refuses every
// symbolic link and escape, or through its own os.Root where openat2 is
// missing.
type dirHandle struct {
	r    *os.Root
	f    *os.File
	fd   int
	path string // below docker/registry/v2
}

// openDir opens dir (below docker/registry/v2).
func (s *storageFS) openDir(dir string) (*dirHandle, presence) {
	r, err := s.root.OpenRoot(dir)
	if err != nil {
		return nil, s.classify(dir, err)
	}
	f, err := r.Open(".")
	if err != nil {
		r.Close()
		return nil, s.classify(dir, err)
	}
	return &dirHandle{r: r, f: f, fd: int(f.Fd()), path: dir}, present
}

func (d *dirHandle) close() {
	d.f.Close()
	d.r.Close()
}

// list lists dir. Symbolic links are refused, never followed, so that no
// walk can loop or leave the root.
func (s *storageFS) list(dir string) listing {
	d, st := s.openDir(dir)
	if st != present {
		return listing{state: st}
	}
	defer d.close()
	return s.listDir(d)
}

// listDir lists an open directory.
func (s *storageFS) listDir(d *dirHandle) listing {
	ents, err := d.f.ReadDir(-1)
	if err != nil {
		return listing{state: s.classify(d.path, err)}
	}
	l := listing{ents: ents[:0], state: present}
	for _, e := range ents {
		if e.Type()&fs.ModeSymlink != 0 {
			s.refuse(path.Join(d.path, e.Name()))
			l.refused = append(l.refused, e.Name())
			continue
		}
		l.ents = append(l.ents, e)
	}
	return l
}

// listNames lists the names in an open directory without their types:
// some filesystems have no type in their directory entries, and Go then
// stats every entry. The callers open what they need below each name with
// openat2, which refuses symbolic links itself.
func (s *storageFS) listNames(d *dirHandle) ([]string, presence) {
	names, err := d.f.Readdirnames(-1)
	if err != nil {
		return nil, s.classify(d.path, err)
	}
	return names, present
}

// readFile reads name inside d; a file longer than limit comes back
// truncated to limit+1 bytes, for the caller to reject.
func (s *storageFS) readFile(d *dirHandle, name string, limit int) ([]byte, presence) {
	return s.readInto(d, name, make([]byte, limit+1))
}

// readInto reads name inside d into buf: a result as long as buf means
// the file may be longer. Not a regular file (a directory) is absent.
func (s *storageFS) readInto(d *dirHandle, name string, buf []byte) ([]byte, presence) {
	n, err := readAt(d.fd, name, buf)
	if errors.Is(err, errUseRoot) {
		var b []byte
		b, err = d.r.ReadFile(name)
		n = copy(buf, b)
	}
	switch {
	case errors.Is(err, syscall.EISDIR):
		return nil, absent
	case err != nil:
		return nil, s.classify(d.path+"/"+name, err)
	}
	return buf[:n], present
}

// statFile returns the size of the regular file name inside d; a symbolic
// link is refused (unknown), anything else not regular is absent.
func (s *storageFS) statFile(d *dirHandle, name string) (int64, presence) {
	size, regular, err := statAt(d.fd, name)
	if errors.Is(err, errUseRoot) {
		var fi fs.FileInfo
		fi, err = d.r.Lstat(name)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			err = errSymlink
		default:
			size, regular = fi.Size(), fi.Mode().IsRegular()
		}
	}
	switch {
	case err != nil:
		return 0, s.classify(d.path+"/"+name, err)
	case !regular:
		return 0, absent
	}
	return size, present
}

// linkEntry is one link file: a tag's current link, or a revision or
// layer link.
type linkEntry struct {
	state   presence
	target  string // the digest it holds, when valid
	invalid string // what it holds instead, when not a digest
}

// readLink reads the link file name inside d.
func (s *storageFS) readLink(d *dirHandle, name string) linkEntry {
	b, st := s.readFile(d, name, maxLinkSize)
	if st != present {
		return linkEntry{state: st}
	}
	dg, ok := ParseLinkFile(b)
	if !ok {
		return linkEntry{state: present, invalid: quoteShort(b)}
	}
	return linkEntry{state: present, target: dg}
}

// maxLinkSize is more than any digest a link file holds.
const maxLinkSize = 200
