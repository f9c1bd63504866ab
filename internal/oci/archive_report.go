package oci

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
)

// ArchiveResult is the outcome of one Archive.
type ArchiveResult struct {
	Status job.Status `json:"status"`
	Error  string     `json:"error,omitempty"`
	// The image.
	Registry   string   `json:"registry"`
	Image      string   `json:"image"` // repo:tag
	Digest     string   `json:"digest,omitempty"`
	Platforms  []string `json:"platforms,omitempty"`
	Manifests  int      `json:"manifests"`
	Blobs      int      `json:"blobs"`
	ImageBytes int64    `json:"image_bytes"`
	// The archive, once written (Path empty when none was).
	Dir      string `json:"dir"`
	Path     string `json:"path,omitempty"`
	Name     string `json:"name,omitempty"`
	Size     int64  `json:"size_bytes"`
	SHA256   string `json:"sha256,omitempty"`
	Verified bool   `json:"verified"` // read back and every blob checked
	// Pruned are the older archives deleted; Archives how many of the
	// repository's remain (the new one included).
	Pruned   []string      `json:"pruned"`
	Archives int           `json:"archives"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"duration_seconds"`
}

func (r *ArchiveResult) finish(err error, now time.Time) {
	r.Duration = now.Sub(r.Started)
	r.Seconds = r.Duration.Seconds()
	switch {
	case err == nil:
		r.Status = job.StatusOK
	case brokenImage(err):
		r.Status = job.StatusFailed
		r.Error = err.Error()
	default:
		r.Status = job.StatusIncomplete
		r.Error = err.Error()
	}
	if r.Pruned == nil {
		r.Pruned = []string{}
	}
}

// Result turns the outcome into a job.Result.
func (r *ArchiveResult) Result() job.Result {
	res := job.Result{
		Status:   r.Status,
		Error:    r.Error,
		Started:  r.Started,
		Duration: r.Duration,
		Counters: map[string]float64{
			"manifests":   float64(r.Manifests),
			"blobs":       float64(r.Blobs),
			"image_bytes": float64(r.ImageBytes),
			"size_bytes":  float64(r.Size),
			"pruned":      float64(len(r.Pruned)),
			"archives":    float64(r.Archives),
		},
	}
	if r.Status == job.StatusFailed {
		res.Findings = []job.Finding{{Kind: "broken-source-image", Subject: r.Image, Message: r.Error}}
	}
	return res
}

// WriteText writes the outcome for a person.
func (r *ArchiveResult) WriteText(w io.Writer) error {
	var b strings.Builder
	img := r.Registry + "/" + r.Image
	if r.Digest != "" {
		fmt.Fprintf(&b, "image %s %s: %d manifests, %d blobs, %s", img, r.Digest, r.Manifests, r.Blobs, formatBytes(r.ImageBytes))
		if len(r.Platforms) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(r.Platforms, ", "))
		}
		b.WriteString("\n")
	}
	if r.Path != "" {
		fmt.Fprintf(&b, "archive %s (%s)\n", r.Path, formatBytes(r.Size))
		fmt.Fprintf(&b, "  sha256 %s in %s%s\n", r.SHA256, r.Name, sidecarExt)
		if r.Verified {
			b.WriteString("  read back: layout whole, every blob's digest and size right\n")
		}
		fmt.Fprintf(&b, "  %s -> %s\n", LatestLink, r.Name)
	}
	for _, p := range r.Pruned {
		fmt.Fprintf(&b, "pruned %s\n", p)
	}
	switch r.Status {
	case job.StatusOK:
		fmt.Fprintf(&b, "status: ok, %d archives of %s kept in %s (%s)\n", r.Archives, r.Image, r.Dir, r.Duration.Round(time.Millisecond))
	case job.StatusFailed:
		fmt.Fprintf(&b, "status: failed, the source image is not whole; previous archives untouched: %s\n", r.Error)
	default:
		if r.Path != "" {
			fmt.Fprintf(&b, "status: incomplete: %s\n", r.Error)
		} else {
			fmt.Fprintf(&b, "status: incomplete, no archive written; previous archives untouched: %s\n", r.Error)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the outcome as one indented JSON document.
func (r *ArchiveResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
