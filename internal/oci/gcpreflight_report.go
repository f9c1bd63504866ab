package oci

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/labops/labops/internal/job"
)

// Subject names the image as "repo:tag".
func (l LostImage) Subject() string { return l.Repo + ":" + l.Tag }

func (l LostImage) line() string {
	var parts []string
	if len(l.Manifests) > 0 {
		parts = append(parts, fmt.Sprintf("manifests whose revision links it deletes: %s", strings.Join(l.Manifests, ", ")))
	}
	if len(l.Blobs) > 0 {
		parts = append(parts, fmt.Sprintf("blobs it deletes: %s", strings.Join(l.Blobs, ", ")))
	}
	return strings.Join(parts, "; ")
}

// Result turns the verdict into a job.Result: one finding per image the
// collection would break.
func (r *GCPreflightReport) Result() job.Result {
	res := job.Result{Status: r.Status, Error: r.Error, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{"would_break": float64(len(r.Lost)), "freed_bytes": float64(r.FreedBytes)}}
	if r.Plan != nil {
		res.Counters["eligible_manifests"] = float64(len(r.Plan.Manifests))
		res.Counters["eligible_blobs"] = float64(len(r.Plan.Blobs))
	}
	for _, l := range r.Lost {
		res.Findings = append(res.Findings, job.Finding{Kind: "gc-would-break", Subject: l.Subject(), Message: l.line()})
	}
	return res
}

// WriteText writes the verdict for a person: what the collector would
// delete, each image it would break with the digests it would take, and
// the status.
func (r *GCPreflightReport) WriteText(w io.Writer) error {
	var b strings.Builder
	cmd := strings.Join(r.Command, " ")
	if r.Plan != nil {
		fmt.Fprintf(&b, "%s: %d manifests and %d blobs (%d bytes) eligible for deletion\n",
			cmd, len(r.Plan.Manifests), len(r.Plan.Blobs), r.FreedBytes)
		fmt.Fprintf(&b, "storage %s: %d repositories, %d tags, %d manifests, %d blobs; %d images already broken (labops oci scan names them)\n",
			r.Root, r.Scan.Repositories, r.Scan.Tags, r.Scan.Manifests, r.Scan.Blobs, r.Scan.BrokenImages)
	}
	for _, l := range r.Lost {
		fmt.Fprintf(&b, "WOULD BREAK %s (%s)\n", l.Subject(), l.Digest)
		for _, d := range l.Manifests {
			fmt.Fprintf(&b, "  manifest %s: revision link deleted, the registry would answer 404\n", d)
		}
		for _, d := range l.Blobs {
			fmt.Fprintf(&b, "  blob %s: deleted\n", d)
		}
	}
	switch r.Status {
	case job.StatusOK:
		fmt.Fprintf(&b, "status: ok, the collection is safe: no tag reaches anything on its list; it would free %d bytes\n", r.FreedBytes)
	case job.StatusFailed:
		fmt.Fprintf(&b, "status: failed, refusing: the collection would break %d tagged images\n", len(r.Lost))
	default:
		fmt.Fprintf(&b, "status: incomplete, no verdict: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the verdict as one indented JSON document.
func (r *GCPreflightReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	out := struct {
		*GCPreflightReport
		Seconds float64 `json:"duration_seconds"`
	}{r, r.Duration.Seconds()}
	return enc.Encode(out)
}
