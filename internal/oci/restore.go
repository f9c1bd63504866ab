package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RestoreResult is the outcome of one Restore.
type RestoreResult struct {
	Status job.Status `json:"status"`
	Error  string     `json:"error,omitempty"`
	// The archive: its path (symlinks resolved), its sha256, and the
	// sidecar it was checked against ("" when there was none).
	Archive string `json:"archive"`
	SHA256  string `json:"sha256,omitempty"`
	Sidecar string `json:"sidecar,omitempty"`
	// The image: its name in the archive and where it went.
	Name         string  `json:"name,omitempty"`
	Ref          string  `json:"ref"`
	Digest       string  `json:"digest,omitempty"`
	Manifests    int     `json:"manifests"`
	Blobs        int     `json:"blobs"`
	BlobsPushed  int     `json:"blobs_pushed"`
	BlobsSkipped int     `json:"blobs_skipped"` // already at the destination
	BytesPushed  int64   `json:"bytes_pushed"`
	Check        *Report `json:"check,omitempty"`

	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"duration_seconds"`
}

// Restore pushes the image in a layout archive (gzipped or not, labops'
// or skopeo's) to ref. It reads the archive once: every blob is hashed
// as it passes, and those the registry lacks are streamed to it (never
// whole in memory). Only when the whole file has been read, its sha256
// matched its sidecar (ARCHIVE.sha256, when there is one) and its layout
// proved whole are the manifests pushed, children first and the tag last,
// so a bad archive never becomes a tag. Then the tag is deep-checked and
// its digest compared with the archive's.
//
// A bad archive, or a restored image the check finds broken, is
// StatusFailed; an unreachable registry or unreadable file StatusIncomplete.
func Restore(ctx context.Context, c *Client, archive string, ref Reference, opts RestoreOptions) *RestoreResult {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	res := &RestoreResult{Archive: archive, Ref: ref.String(), Started: opts.Now()}
	err := restore(ctx, c, archive, ref, opts, res)
	res.Duration = opts.Now().Sub(res.Started)
	res.Seconds = res.Duration.Seconds()
	switch {
	case err != nil && errors.Is(err, ErrBadArchive):
		res.Status, res.Error = job.StatusFailed, err.Error()
	case err != nil:
		res.Status, res.Error = job.StatusIncomplete, err.Error()
	case res.Check != nil && res.Check.Status != job.StatusOK:
		res.Status, res.Error = res.Check.Status, "the deep check of the restored image: "+res.Check.Error
		if res.Check.Status == job.StatusFailed {
			res.Error = "the deep check finds the restored image broken"
		}
	default:
		res.Status = job.StatusOK
	}
	return res
}

func restore(ctx context.Context, c *Client, archive string, ref Reference, opts RestoreOptions, res *RestoreResult) error {
	path, err := filepath.EvalSymlinks(archive)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	res.Archive = path
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	p := NewPusher(c)
	repo := ref.Repo
	lc, err := readLayout(f, func(d Descriptor, r io.Reader) error {
		return pushArchiveBlob(ctx, p, repo, d, r, res)
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	res.SHA256 = lc.FileSHA256
	if err := checkSidecar(path, lc.FileSHA256, res); err != nil {
		return err
	}
	root, err := pickImage(lc, ref)
	if err != nil {
		return err
	}
	res.Name, res.Digest = root.RefName(), root.Digest
	manifests, blobs, err := lc.graph(root.descriptor())
	if err != nil {
		return err
	}
	res.Manifests, res.Blobs = len(manifests), len(blobs)
	// A config or layer that happens to parse as a manifest was held back
	// with the manifests: it goes up now, as a blob.
	for _, b := range blobs {
		if m := lc.Manifests[b.Digest]; m != nil {
			if err := pushArchiveBlob(ctx, p, repo, b, bytes.NewReader(m.Body), res); err != nil {
				return err
			}
		}
	}
	for i, m := range manifests {
		tag := ""
		if i == len(manifests)-1 {
			tag = ref.Tag
		}
		mt := m.MediaType
		if mt == "" {
			mt = m.Manifest.MediaType
		}
		if _, err := p.PushManifest(ctx, repo, tag, mt, m.Body); err != nil {
			return err
		}
	}
	opts.Logger.Debug("restored, checking", "ref", ref.String(), "digest", root.Digest)
	check := ref
	check.Digest = ""
	if check.Tag == "" {
		check.Digest = root.Digest
	}
	res.Check = CheckReference(ctx, c, check, CheckOptions{Depth: DepthBlobs, Logger: opts.Logger, Now: opts.Now})
	if res.Check.Status == job.StatusOK && ref.Tag != "" {
		fm, err := c.GetManifest(ctx, repo, ref.Tag)
		if err != nil {
			return fmt.Errorf("reading back the restored tag: %w", err)
		}
		if fm.Digest != root.Digest {
			return fmt.Errorf("%w: the restored tag %s is %s, the archive's image %s", ErrBadArchive, ref.Tag, fm.Digest, root.Digest)
		}
	}
	return nil
}

// pushArchiveBlob pushes blob d from r unless repo has it already.
func pushArchiveBlob(ctx context.Context, p *Pusher, repo string, d Descriptor, r io.Reader, res *RestoreResult) error {
	ok, err := p.BlobExists(ctx, repo, d)
	if err != nil {
		return err
	}
	if ok {
		res.BlobsSkipped++
		return nil
	}
	if err := p.PushBlobFrom(ctx, repo, d, r); err != nil {
		return err
	}
	res.BlobsPushed++
	res.BytesPushed += d.Size
	return nil
}

// checkSidecar compares the archive's sha256 with PATH.sha256, when there
// is one.
func checkSidecar(path, sum string, res *RestoreResult) error {
	side := path + sidecarExt
	want, err := readSidecar(side, filepath.Base(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	res.Sidecar = side
	if want != sum {
		return fmt.Errorf("%w: %s hashes to %s, its sidecar %s says %s", ErrBadArchive, filepath.Base(path), sum, filepath.Base(side), want)
	}
	return nil
}

// pickImage chooses the image of index.json to restore: the only one, or
// the one whose ref.name is ref's tag. A digest in ref must match it.
func pickImage(lc *layoutContents, ref Reference) (layoutDescriptor, error) {
	var root layoutDescriptor
	switch ms := lc.Index.Manifests; {
	case len(ms) == 1:
		root = ms[0]
	default:
		i := slices.IndexFunc(ms, func(d layoutDescriptor) bool { return ref.Tag != "" && d.RefName() == ref.Tag })
		if i < 0 {
			var names []string
			for _, d := range ms {
				names = append(names, fmt.Sprintf("%q", d.RefName()))
			}
			return root, fmt.Errorf("%w: it holds %d images (named %s) and none is named %q: name one as REF's tag",
				ErrBadArchive, len(ms), strings.Join(names, ", "), ref.Tag)
		}
		root = ms[i]
	}
	if ref.Digest != "" && ref.Digest != root.Digest {
		return root, fmt.Errorf("%w: REF names %s, the archive's image is %s", ErrBadArchive, ref.Digest, root.Digest)
	}
	return root, nil
}

// Result turns the outcome into a job.Result.
func (r *RestoreResult) Result() job.Result {
	res := job.Result{Status: r.Status, Error: r.Error, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{
			"manifests":     float64(r.Manifests),
			"blobs":         float64(r.Blobs),
			"blobs_pushed":  float64(r.BlobsPushed),
			"blobs_skipped": float64(r.BlobsSkipped),
			"bytes_pushed":  float64(r.BytesPushed),
		}}
	if r.Check != nil {
		res.Findings = r.Check.Result().Findings
	}
	return res
}

// WriteText writes the outcome for a person.
func (r *RestoreResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "archive %s", r.Archive)
	if r.SHA256 != "" {
		fmt.Fprintf(&b, ": sha256 %s", r.SHA256)
		if r.Sidecar != "" {
			b.WriteString(", matches its sidecar")
		} else {
			b.WriteString(" (no sidecar to compare with)")
		}
	}
	b.WriteString("\n")
	if r.Digest != "" {
		fmt.Fprintf(&b, "image %q %s: %d manifests, %d blobs, every blob's digest verified\n", r.Name, r.Digest, r.Manifests, r.Blobs)
	}
	fmt.Fprintf(&b, "to %s: %d blobs pushed (%s), %d already there\n", r.Ref, r.BlobsPushed, formatBytes(r.BytesPushed), r.BlobsSkipped)
	if r.Check != nil {
		if err := r.Check.WriteText(&b); err != nil {
			return err
		}
	}
	switch r.Status {
	case job.StatusOK:
		fmt.Fprintf(&b, "status: ok, %s restored and whole\n", r.Ref)
	case job.StatusFailed:
		fmt.Fprintf(&b, "status: failed: %s\n", r.Error)
	default:
		fmt.Fprintf(&b, "status: incomplete: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the outcome as one indented JSON document.
func (r *RestoreResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
