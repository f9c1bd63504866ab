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

// Kinds of pieces an image is made of, as problems name them.
const (
	KindManifest      = "manifest"       // the tag's own manifest or index
	KindChildManifest = "child-manifest" // a manifest an index points at
	KindConfig        = "config"
	KindLayer         = "layer"
)

// States a piece can be in when it is a problem.
const (
	StateMissing     = "missing"     // 404, or an empty body where bytes must be
	StateCorrupt     = "corrupt"     // wrong digest or size
	StateUnsupported = "unsupported" // a manifest type labops cannot read
	StateInvalid     = "invalid"     // a manifest that does not parse
)

// Problem is one missing or corrupt piece of an image.
type Problem struct {
	Kind     string `json:"kind"`
	State    string `json:"state"`
	Digest   string `json:"digest,omitempty"`
	Manifest string `json:"manifest,omitempty"` // the manifest that points at it, when not the image's own
	Platform string `json:"platform,omitempty"`
	Status   int    `json:"http_status,omitempty"`
	Message  string `json:"message"`
}

// BrokenImage is one tag (or digest reference) that cannot be pulled whole.
type BrokenImage struct {
	Repo     string    `json:"repository"`
	Tag      string    `json:"tag,omitempty"`
	Digest   string    `json:"digest,omitempty"` // the tag's manifest digest, when it resolved
	Problems []Problem `json:"problems"`
}

// Subject names the image as "repo:tag" (or "repo@digest").
func (b BrokenImage) Subject() string {
	if b.Tag != "" {
		return b.Repo + ":" + b.Tag
	}
	return b.Repo + "@" + b.Digest
}

// Summary counts what a check walked.
type Summary struct {
	Repositories int     `json:"repositories"`
	Tags         int     `json:"tags"`
	Manifests    int     `json:"manifests"`
	Blobs        int     `json:"blobs"`
	Requests     int64   `json:"requests"`
	BrokenImages int     `json:"broken_images"`
	Seconds      float64 `json:"duration_seconds"`
}

// Report is the outcome of one check.
type Report struct {
	Registry string     `json:"registry"`
	Status   job.Status `json:"status"`
	// Error says why the walk is incomplete; Errors lists every distinct
	// reason (capped).
	Error   string        `json:"error,omitempty"`
	Errors  []string      `json:"errors,omitempty"`
	Broken  []BrokenImage `json:"broken"`
	Summary Summary       `json:"summary"`
	// CatalogUp is whether the registry answered the listing the walk
	// started from (the catalog, or the named repositories' tag lists).
	CatalogUp bool          `json:"catalog_up"`
	Depth     Depth         `json:"depth"`
	Verified  bool          `json:"verify_digests"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"-"`
}

// finish sorts the report and sets its status: incomplete when anything
// could not be seen, else failed when anything is broken, else ok.
func (r *Report) finish() {
	slices.SortFunc(r.Broken, func(a, b BrokenImage) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Tag, b.Tag), cmp.Compare(a.Digest, b.Digest))
	})
	for _, b := range r.Broken {
		slices.SortStableFunc(b.Problems, func(x, y Problem) int {
			return cmp.Or(cmp.Compare(kindRank(x.Kind), kindRank(y.Kind)), cmp.Compare(x.Manifest, y.Manifest), cmp.Compare(x.Digest, y.Digest))
		})
	}
	r.Summary.BrokenImages = len(r.Broken)
	r.Summary.Seconds = r.Duration.Seconds()
	switch {
	case len(r.Errors) > 0:
		r.Status = job.StatusIncomplete
		r.Error = r.Errors[0]
		if len(r.Errors) > 1 {
			r.Error += fmt.Sprintf(" (and %d more errors)", len(r.Errors)-1)
		}
	case len(r.Broken) > 0:
		r.Status = job.StatusFailed
	default:
		r.Status = job.StatusOK
	}
}

func kindRank(k string) int {
	return slices.Index([]string{KindManifest, KindChildManifest, KindConfig, KindLayer}, k)
}

// Result turns the report into a job.Result: one finding per problem,
// subject "repo:tag", kind such as "missing-layer".
func (r *Report) Result() job.Result {
	res := job.Result{
		Status:   r.Status,
		Error:    r.Error,
		Started:  r.Started,
		Duration: r.Duration,
		Counters: map[string]float64{
			"repositories":  float64(r.Summary.Repositories),
			"tags":          float64(r.Summary.Tags),
			"manifests":     float64(r.Summary.Manifests),
			"blobs":         float64(r.Summary.Blobs),
			"requests":      float64(r.Summary.Requests),
			"broken_images": float64(r.Summary.BrokenImages),
		},
	}
	for _, b := range r.Broken {
		for _, p := range b.Problems {
			res.Findings = append(res.Findings, job.Finding{
				Kind:    p.State + "-" + p.Kind,
				Subject: b.Subject(),
				Message: p.line(),
			})
		}
	}
	return res
}

// line is the problem in one human sentence.
func (p Problem) line() string {
	var b strings.Builder
	b.WriteString(p.Kind)
	if p.Digest != "" {
		b.WriteString(" " + p.Digest)
	}
	if p.Platform != "" {
		b.WriteString(" (" + p.Platform + ")")
	}
	if p.Manifest != "" {
		b.WriteString(" of manifest " + p.Manifest)
	}
	b.WriteString(": " + p.State)
	if p.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", p.Status)
	}
	if p.Message != "" && p.Message != p.State {
		b.WriteString(": " + p.Message)
	}
	return b.String()
}

// WriteText writes the human report: one block per broken image, then the
// summary and the status.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, img := range r.Broken {
		fmt.Fprintf(&b, "BROKEN %s", img.Subject())
		if img.Digest != "" && img.Tag != "" {
			fmt.Fprintf(&b, " (%s)", img.Digest)
		}
		b.WriteString("\n")
		for _, p := range img.Problems {
			fmt.Fprintf(&b, "  %s\n", p.line())
		}
	}
	if len(r.Broken) > 0 {
		b.WriteString("\n")
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error: %s\n", e)
	}
	s := r.Summary
	what := "manifests and blobs"
	if r.Depth == DepthManifests {
		what = "manifests only"
	}
	if r.Verified {
		what += ", digests verified"
	}
	fmt.Fprintf(&b, "registry %s (%s): %d repositories, %d tags, %d manifests, %d blobs checked with %d requests in %s\n",
		r.Registry, what, s.Repositories, s.Tags, s.Manifests, s.Blobs, s.Requests, r.Duration.Round(time.Millisecond))
	switch r.Status {
	case job.StatusOK:
		b.WriteString("status: ok, every image is whole\n")
	case job.StatusFailed:
		fmt.Fprintf(&b, "status: failed, %d broken images\n", s.BrokenImages)
	default:
		fmt.Fprintf(&b, "status: incomplete, the check could not see everything (%d broken images among what it saw): %s\n", s.BrokenImages, r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if r.Broken == nil {
		r.Broken = []BrokenImage{}
	}
	return enc.Encode(r)
}
