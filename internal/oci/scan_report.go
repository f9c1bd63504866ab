package oci

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
)

// DanglingLink is a revision or layer link in a repository whose blob
// data is gone, or whose file holds no digest. garbage-collect itself
// leaves layer links behind when it deletes their blobs; those are harmless
// while no manifest needs them (NeededBy 0). A dangling revision link is
// damage: the registry lists the manifest and then answers 404 for it.
type DanglingLink struct {
	Repo     string `json:"repository"`
	Kind     string `json:"kind"` // LinkRevision or LinkLayer
	Digest   string `json:"digest"`
	State    string `json:"state"` // StateMissing (blob data gone) or StateInvalid (the link file holds no such digest)
	Message  string `json:"message"`
	NeededBy int    `json:"needed_by_tags"` // tags that reach it (each is also a broken image)
}

// StoredManifest is a revision-linked manifest whose blob does not parse
// (garbage-collect fails at the first such one) or does not match its
// digest.
type StoredManifest struct {
	Repo    string `json:"repository"`
	Digest  string `json:"digest"`
	State   string `json:"state"` // StateInvalid, StateUnsupported or StateCorrupt
	Message string `json:"message"`
}

// UnreachableBlob is a blob no tag reaches.
type UnreachableBlob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// PlainGC is whether a plain garbage-collect deletes it. When false,
	// an untagged manifest still references it, and only
	// --delete-untagged would (or a retention run deleting that manifest).
	PlainGC bool `json:"plain_gc"`
}

// ScanSummary counts what a scan read and found.
type ScanSummary struct {
	Repositories     int     `json:"repositories"`
	Tags             int     `json:"tags"`
	Manifests        int     `json:"manifests"`
	Blobs            int     `json:"blobs"`
	BrokenImages     int     `json:"broken_images"`
	InvalidManifests int     `json:"invalid_manifests"`
	DanglingLinks    int     `json:"dangling_links"`
	UnreachableBlobs int     `json:"unreachable_blobs"`
	ReclaimableBytes int64   `json:"reclaimable_bytes"` // what the unreachable blobs hold
	PlainGCBlobs     int     `json:"plain_gc_blobs"`    // of those, what a plain garbage-collect deletes
	PlainGCBytes     int64   `json:"plain_gc_bytes"`
	Uploads          int     `json:"uploads"`
	StaleUploads     int     `json:"stale_uploads"`
	StaleUploadBytes int64   `json:"stale_upload_bytes"`
	Refused          int     `json:"refused"`
	Seconds          float64 `json:"duration_seconds"`
}

// ScanReport is the outcome of one scan of registry:2 storage.
type ScanReport struct {
	Root   string     `json:"storage_root"`
	Status job.Status `json:"status"`
	// Error says why the scan is incomplete; Errors lists every reason
	// (capped at 100).
	Error            string            `json:"error,omitempty"`
	Errors           []string          `json:"errors,omitempty"`
	Broken           []BrokenImage     `json:"broken"`
	InvalidManifests []StoredManifest  `json:"invalid_manifests"`
	DanglingLinks    []DanglingLink    `json:"dangling_links"`
	Unreachable      []UnreachableBlob `json:"unreachable_blobs"`
	Uploads          []Upload          `json:"uploads"`
	Refused          []RefusedPath     `json:"refused"`
	Summary          ScanSummary       `json:"summary"`
	Started          time.Time         `json:"started"`
	Duration         time.Duration     `json:"-"`

	reach []tagReach
	blobs map[string]blobInfo
}

// finish sorts the report, fills the summary and sets the status:
// incomplete when anything could not be read or was refused, else failed
// when an image is broken, a manifest does not parse or a revision link
// dangles, else ok. Unreachable blobs, stale uploads and the layer links
// garbage-collect leaves behind are reported but are not failures.
func (r *ScanReport) finish() {
	slices.SortFunc(r.Broken, func(a, b BrokenImage) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Tag, b.Tag))
	})
	for _, b := range r.Broken {
		slices.SortStableFunc(b.Problems, func(x, y Problem) int {
			return cmp.Or(cmp.Compare(kindRank(x.Kind), kindRank(y.Kind)), cmp.Compare(x.Manifest, y.Manifest), cmp.Compare(x.Digest, y.Digest))
		})
	}
	slices.SortFunc(r.Uploads, func(a, b Upload) int { return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.ID, b.ID)) })
	slices.SortFunc(r.Refused, func(a, b RefusedPath) int { return cmp.Compare(a.Path, b.Path) })
	r.Refused = slices.Compact(r.Refused)
	s := &r.Summary
	s.BrokenImages = len(r.Broken)
	s.InvalidManifests = len(r.InvalidManifests)
	s.DanglingLinks = len(r.DanglingLinks)
	s.UnreachableBlobs = len(r.Unreachable)
	s.Refused = len(r.Refused)
	s.ReclaimableBytes, s.PlainGCBlobs, s.PlainGCBytes = 0, 0, 0
	for _, u := range r.Unreachable {
		s.ReclaimableBytes += u.Size
		if u.PlainGC {
			s.PlainGCBlobs++
			s.PlainGCBytes += u.Size
		}
	}
	s.Uploads, s.StaleUploads, s.StaleUploadBytes = len(r.Uploads), 0, 0
	for _, u := range r.Uploads {
		if u.Stale {
			s.StaleUploads++
			s.StaleUploadBytes += u.Bytes
		}
	}
	s.Seconds = r.Duration.Seconds()
	errs := slices.Clone(r.Errors)
	for _, p := range r.Refused {
		errs = append(errs, fmt.Sprintf("refused to follow the symbolic link %s", p.Path))
	}
	switch {
	case len(errs) > 0:
		r.Status = job.StatusIncomplete
		r.Error = errs[0]
		if len(errs) > 1 {
			r.Error += fmt.Sprintf(" (and %d more)", len(errs)-1)
		}
	case len(r.Broken) > 0 || len(r.InvalidManifests) > 0 || r.danglingRevisions() > 0:
		r.Status = job.StatusFailed
	default:
		r.Status = job.StatusOK
	}
}

func (r *ScanReport) danglingRevisions() int {
	n := 0
	for _, l := range r.DanglingLinks {
		if l.Kind == LinkRevision {
			n++
		}
	}
	return n
}

// Result turns the report into a job.Result: a finding per problem of a
// broken image (subject "repo:tag"), per invalid manifest and dangling link
// (subject "repo@digest"), per stale upload and refused path.
func (r *ScanReport) Result() job.Result {
	s := r.Summary
	res := job.Result{Status: r.Status, Error: r.Error, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{
			"repositories": float64(s.Repositories), "tags": float64(s.Tags), "manifests": float64(s.Manifests),
			"blobs": float64(s.Blobs), "broken_images": float64(s.BrokenImages), "invalid_manifests": float64(s.InvalidManifests),
			"dangling_links": float64(s.DanglingLinks), "unreachable_blobs": float64(s.UnreachableBlobs),
			"reclaimable_bytes": float64(s.ReclaimableBytes), "plain_gc_bytes": float64(s.PlainGCBytes),
			"stale_uploads": float64(s.StaleUploads), "stale_upload_bytes": float64(s.StaleUploadBytes),
		}}
	add := func(kind, subject, msg string) {
		res.Findings = append(res.Findings, job.Finding{Kind: kind, Subject: subject, Message: msg})
	}
	for _, b := range r.Broken {
		for _, p := range b.Problems {
			add(p.State+"-"+p.Kind, b.Subject(), p.line())
		}
	}
	for _, m := range r.InvalidManifests {
		add(m.State+"-manifest", m.Repo+"@"+m.Digest, m.Message)
	}
	for _, l := range r.DanglingLinks {
		add("dangling-"+l.Kind+"-link", l.Repo+"@"+l.Digest, l.line())
	}
	for _, u := range r.Uploads {
		if u.Stale {
			add("stale-upload", u.Repo, u.line())
		}
	}
	for _, p := range r.Refused {
		add("refused-symlink", p.Path, p.line())
	}
	return res
}

func (l DanglingLink) line() string {
	s := fmt.Sprintf("%s link %s@%s: %s", l.Kind, l.Repo, l.Digest, l.Message)
	switch {
	case l.NeededBy > 0:
		s += fmt.Sprintf(" (needed by %d tags)", l.NeededBy)
	case l.Kind == LinkLayer && l.State == StateMissing:
		s += " (no tag needs it; garbage-collect leaves such links behind)"
	}
	return s
}

func (u Upload) line() string {
	started := "unknown start"
	if !u.Started.IsZero() {
		started = "started " + u.Started.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("upload %s/_uploads/%s: %s, %d bytes", u.Repo, u.ID, started, u.Bytes)
}

func (p RefusedPath) line() string {
	where := "inside the storage root"
	if p.Outside {
		where = "outside the storage root"
	}
	return fmt.Sprintf("%s: symbolic link to %q (%s), not followed", p.Path, p.Target, where)
}

// WriteText writes the human report: each broken image with every piece
// it lost, the other findings, then the summary and the status.
func (r *ScanReport) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, img := range r.Broken {
		fmt.Fprintf(&b, "BROKEN %s", img.Subject())
		if img.Digest != "" {
			fmt.Fprintf(&b, " (%s)", img.Digest)
		}
		b.WriteString("\n")
		for _, p := range img.Problems {
			fmt.Fprintf(&b, "  %s\n", p.line())
		}
	}
	for _, m := range r.InvalidManifests {
		fmt.Fprintf(&b, "INVALID manifest %s@%s: %s: %s\n", m.Repo, m.Digest, m.State, m.Message)
	}
	for _, l := range r.DanglingLinks {
		fmt.Fprintf(&b, "DANGLING %s\n", l.line())
	}
	for _, u := range r.Uploads {
		if u.Stale {
			fmt.Fprintf(&b, "STALE %s\n", u.line())
		}
	}
	for _, p := range r.Refused {
		fmt.Fprintf(&b, "REFUSED %s\n", p.line())
	}
	const maxListed = 20
	for i, u := range r.Unreachable {
		if i == maxListed {
			fmt.Fprintf(&b, "... and %d more unreachable blobs (--json lists them all)\n", len(r.Unreachable)-maxListed)
			break
		}
		how := "a plain garbage-collect deletes it"
		if !u.PlainGC {
			how = "an untagged manifest still holds it"
		}
		fmt.Fprintf(&b, "UNREACHABLE blob %s: %d bytes, %s\n", u.Digest, u.Size, how)
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error: %s\n", e)
	}
	s := r.Summary
	fmt.Fprintf(&b, "storage %s: %d repositories, %d tags, %d manifests, %d blobs scanned in %s\n",
		r.Root, s.Repositories, s.Tags, s.Manifests, s.Blobs, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "broken images: %d, invalid manifests: %d, dangling links: %d (%d revision, %d layer)\n",
		s.BrokenImages, s.InvalidManifests, s.DanglingLinks, r.danglingRevisions(), s.DanglingLinks-r.danglingRevisions())
	fmt.Fprintf(&b, "unreachable: %d blobs, %d bytes reclaimable (a plain garbage-collect frees %d blobs, %d bytes)\n",
		s.UnreachableBlobs, s.ReclaimableBytes, s.PlainGCBlobs, s.PlainGCBytes)
	fmt.Fprintf(&b, "uploads: %d in progress, %d stale (%d bytes)\n", s.Uploads, s.StaleUploads, s.StaleUploadBytes)
	switch r.Status {
	case job.StatusOK:
		b.WriteString("status: ok, every tag is whole\n")
	case job.StatusFailed:
		fmt.Fprintf(&b, "status: failed, %d broken images, %d invalid manifests, %d dangling revision links\n",
			s.BrokenImages, s.InvalidManifests, r.danglingRevisions())
	default:
		fmt.Fprintf(&b, "status: incomplete, the scan could not read everything (%d broken images among what it read): %s\n", s.BrokenImages, r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON document, with empty
// lists as [] rather than null.
func (r *ScanReport) WriteJSON(w io.Writer) error {
	out := *r
	out.Broken = nonNil(out.Broken)
	out.InvalidManifests = nonNil(out.InvalidManifests)
	out.DanglingLinks = nonNil(out.DanglingLinks)
	out.Unreachable = nonNil(out.Unreachable)
	out.Uploads = nonNil(out.Uploads)
	out.Refused = nonNil(out.Refused)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
