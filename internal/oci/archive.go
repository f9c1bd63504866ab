package oci

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// DefaultArchiveKeep is how many archives of a repository are kept.
const DefaultArchiveKeep = 5

// ArchiveOptions configure Archive.
type ArchiveOptions struct {
	// Dir is the directory the archives live in; it must exist.
	Dir string
	// Keep is how many of the repository's archives to keep, the new one
	// included (default 5).
	Keep   int
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// wrap wraps the archive file's writer (tests inject write errors).
	wrap func(io.Writer) io.Writer
}

// Archive writes repo:tag (every platform) from the registry as a gzipped
// OCI image layout in opts.Dir, the break-glass copy of an image:
//
//  1. read the image graph (every manifest, checked against its digest);
//  2. stream each blob from the registry into a temp file in Dir, each
//     checked against its digest and size on the way; fsync it;
//  3. read the temp file back and check the layout and every blob again;
//  4. write the sha256 sidecar, rename the archive into place, point
//     latest at it;
//  5. only then delete the repository's archives beyond Keep.
//
// Any failure before 4 removes the temp file and leaves the directory as
// it was. A broken source image is StatusFailed; an unreachable registry
// or a local I/O error (full disk, read-only directory) StatusIncomplete.
func Archive(ctx context.Context, c *Client, repo, tag string, opts ArchiveOptions) *ArchiveResult {
	if opts.Keep <= 0 {
		opts.Keep = DefaultArchiveKeep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &archiver{c: c, repo: repo, tag: tag, opts: opts, log: opts.Logger}
	res := &ArchiveResult{Registry: c.Registry().Host, Image: repo + ":" + tag, Dir: opts.Dir, Started: opts.Now()}
	err := a.run(ctx, res)
	res.finish(err, opts.Now())
	return res
}

type archiver struct {
	c         *Client
	repo, tag string
	opts      ArchiveOptions
	log       *slog.Logger
}

// sourceError marks an error of the source registry's (its answer, its
// bytes) as opposed to one of the local disk's.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// localError marks a failure to write or read the archive file.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// brokenImage reports whether err says the source image itself is not
// whole (as opposed to unreachable): exit 1 rather than 3.
func brokenImage(err error) bool {
	var le *localError
	if errors.As(err, &le) {
		return false
	}
	var se *sourceError
	if !errors.As(err, &se) {
		return false
	}
	for _, s := range []error{ErrNotFound, ErrDigestMismatch, ErrSizeMismatch, ErrEmptyBody, ErrInvalidManifest, ErrUnsupportedMedia} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func (a *archiver) run(ctx context.Context, res *ArchiveResult) error {
	st, err := os.Stat(a.opts.Dir)
	if err != nil {
		return &localError{fmt.Errorf("archive directory: %w", err)}
	}
	if !st.IsDir() {
		return &localError{fmt.Errorf("archive directory %s: not a directory", a.opts.Dir)}
	}
	g, err := ReadImageGraph(ctx, a.c, a.repo, a.tag)
	if err != nil {
		return &sourceError{err}
	}
	res.Digest = g.Root.Digest
	res.Platforms = g.Platforms()
	res.Manifests = len(g.Manifests)
	res.Blobs = len(g.Blobs)
	res.ImageBytes = g.BlobBytes()
	for _, m := range g.Manifests {
		res.ImageBytes += m.Size
	}
	name := archiveName(a.repo, res.Started, g.Root.Digest)
	final := filepath.Join(a.opts.Dir, name)
	// A file of that name holds the same image, archived in the same
	// second: the new one, once verified, replaces it.

	for _, n := range removeStaleTemps(a.opts.Dir, a.repo, time.Now()) {
		a.log.Info("removed a temp file a killed run left behind", "file", n)
	}
	f, err := os.CreateTemp(a.opts.Dir, "."+name+".tmp-*")
	if err != nil {
		return &localError{fmt.Errorf("creating the archive: %w", err)}
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp)
		}
	}()
	sum, size, err := a.write(ctx, f, g, res.Started)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = &localError{fmt.Errorf("closing %s: %w", tmp, cerr)}
	}
	if err != nil {
		return err
	}
	a.log.Debug("archive written, reading it back", "file", tmp, "bytes", size)
	if err := verifyArchiveFile(tmp, g, a.tag, sum); err != nil {
		return &localError{fmt.Errorf("reading the new archive back: %w", err)}
	}
	res.Verified = true

	side := name + sidecarExt
	if err := writeSidecar(a.opts.Dir, side, sum, name); err != nil {
		return &localError{err}
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(filepath.Join(a.opts.Dir, side))
		return &localError{fmt.Errorf("renaming the archive into place: %w", err)}
	}
	committed = true
	if err := pointLatest(a.opts.Dir, name); err != nil {
		// Without latest pointing at it, the new archive is undone, so
		// that the directory stays as it was.
		os.Remove(final)
		os.Remove(filepath.Join(a.opts.Dir, side))
		return &localError{err}
	}
	res.Path, res.Name, res.Size, res.SHA256 = final, name, size, sum

	pruned, remaining, err := pruneArchives(a.opts.Dir, a.repo, a.opts.Keep, name)
	res.Pruned, res.Archives = pruned, remaining
	if err != nil {
		return &localError{fmt.Errorf("the archive is written, but pruning failed: %w", err)}
	}
	return nil
}

// write streams the layout into f and fsyncs it; it returns the file's
// sha256 (hex) and size.
func (a *archiver) write(ctx context.Context, f *os.File, g *ImageGraph, at time.Time) (string, int64, error) {
	fileHash := &countingHash{h: sha256.New()}
	var sink io.Writer = f
	if a.opts.wrap != nil {
		sink = a.opts.wrap(sink)
	}
	bw := bufio.NewWriterSize(&localWriter{w: io.MultiWriter(sink, fileHash)}, 256<<10)
	// Layers are mostly gzipped already: the fastest level costs little
	// size and much less time.
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	zw.Comment = archiveComment(a.repo, a.tag, g.Root.Digest)
	zw.ModTime = at
	lw := newLayoutWriter(zw, at)
	if err := lw.writeIndex(g.Root, a.tag); err != nil {
		return "", 0, err
	}
	for _, m := range g.Manifests {
		if err := lw.writeBlob(m.Descriptor, bytes.NewReader(m.Body)); err != nil {
			return "", 0, markSource(err)
		}
	}
	for _, d := range g.Blobs {
		if lw.has(d.Digest) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		if err := a.copyBlob(ctx, lw, d); err != nil {
			return "", 0, err
		}
	}
	if err := lw.close(); err != nil {
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	if err := bw.Flush(); err != nil {
		return "", 0, err
	}
	if err := f.Sync(); err != nil {
		return "", 0, &localError{fmt.Errorf("syncing the archive: %w", err)}
	}
	return hex.EncodeToString(fileHash.h.Sum(nil)), fileHash.n, nil
}

func (a *archiver) copyBlob(ctx context.Context, lw *layoutWriter, d Descriptor) error {
	rc, err := a.c.OpenBlob(ctx, a.repo, d)
	if err != nil {
		return &sourceError{err}
	}
	defer rc.Close()
	return markSource(lw.writeBlob(d, &sourceReader{r: rc}))
}

// markSource marks a digest or size mismatch found by the layout writer
// (the source's bytes were wrong) as the source's fault; write errors keep
// their localError.
func markSource(err error) error {
	var le *localError
	var se *sourceError
	if err == nil || errors.As(err, &le) || errors.As(err, &se) {
		return err
	}
	if errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch) {
		return &sourceError{err}
	}
	return err
}

// sourceReader marks its reader's errors as the source's.
type sourceReader struct{ r io.Reader }

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}

// localWriter marks its writer's errors as local.
type localWriter struct{ w io.Writer }

func (l *localWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil {
		err = &localError{fmt.Errorf("writing the archive: %w", err)}
	}
	return n, err
}

// verifyArchiveFile reads the archive at path back from disk and checks
// that it is a whole layout holding exactly g under tag, every blob's
// digest and size right, and that the file hashes to wantSum.
func verifyArchiveFile(path string, g *ImageGraph, tag, wantSum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dropCache(f)
	lc, err := readLayout(f, nil)
	if err != nil {
		return err
	}
	if lc.FileSHA256 != wantSum {
		return fmt.Errorf("%w: the file hashes to %s, but %s was written", ErrBadArchive, lc.FileSHA256, wantSum)
	}
	if len(lc.Index.Manifests) != 1 {
		return fmt.Errorf("%w: index.json names %d images, want 1", ErrBadArchive, len(lc.Index.Manifests))
	}
	top := lc.Index.Manifests[0]
	if top.Digest != g.Root.Digest || top.RefName() != tag {
		return fmt.Errorf("%w: index.json names %s as %q, want %s as %q", ErrBadArchive, top.Digest, top.RefName(), g.Root.Digest, tag)
	}
	for _, m := range g.Manifests {
		if lc.Blobs[m.Digest] != m.Size || lc.Manifests[m.Digest] == nil {
			return fmt.Errorf("%w: manifest %s is not in it whole", ErrBadArchive, m.Digest)
		}
	}
	for _, d := range g.Blobs {
		if size, ok := lc.Blobs[d.Digest]; !ok || size != d.Size {
			return fmt.Errorf("%w: blob %s is not in it whole", ErrBadArchive, d.Digest)
		}
	}
	return nil
}
