package oci

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/labops/labops/internal/job"
)

// shortDigest is "sha256:0123456789ab" for text lines.
func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return alg + ":" + hex[:12]
}

// mediaName is a short name of a manifest media type.
func mediaName(mt string) string {
	switch mt {
	case MediaTypeOCIIndex:
		return "OCI index"
	case MediaTypeOCIManifest:
		return "OCI image"
	case MediaTypeDockerList:
		return "Docker manifest list"
	case MediaTypeDockerManifest:
		return "Docker image"
	}
	return mt
}

// WriteText writes the plan (tags to copy with their digests, what is
// identical, bytes to move), what was copied, failures, the prune and the
// status.
func (r *MirrorResult) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := "dry run"
	if r.Applied {
		mode = "applied"
	}
	s := r.Summary
	fmt.Fprintf(&b, "mirror %s -> %s (%s)\n", r.Source, r.Destination, mode)
	fmt.Fprintf(&b, "plan: %d repositories, %d tags identical, %d to copy: %d blobs to upload (%s), %d to mount from another repository\n",
		s.Repositories, s.TagsIdentical, s.TagsToCopy, s.BlobsToUpload, formatBytes(s.BytesToMove), s.BlobsToMount)
	for _, t := range r.Tags {
		if t.State == MirrorIdentical {
			continue
		}
		verb := map[string]string{MirrorCopy: "copy", MirrorCopied: "copied", MirrorFailed: "FAILED", MirrorSkipped: "skipped"}[t.State]
		what := "new"
		if t.Previous != "" {
			what = "replaces " + shortDigest(t.Previous)
		}
		detail := ""
		if t.graph != nil || t.MediaType != "" {
			detail = mediaName(t.MediaType)
			if len(t.Platforms) > 0 {
				detail += " " + strings.Join(t.Platforms, " ")
			}
			detail += fmt.Sprintf("; %d of %d blobs missing, %s; ", t.Missing, t.Blobs, formatBytes(t.MissingBytes))
		}
		fmt.Fprintf(&b, "  %-7s %s:%s -> %s  %s  (%s%s)\n", verb, t.Repo, t.Tag, t.Target, t.Digest, detail, what)
		if t.Error != "" {
			fmt.Fprintf(&b, "          %s\n", t.Error)
		}
	}
	if r.Applied {
		fmt.Fprintf(&b, "copied: %d tags, %d blobs uploaded (%s), %d mounted\n", s.TagsCopied, s.BlobsUploaded, formatBytes(s.BytesMoved), s.BlobsMounted)
		if r.Check != nil {
			fmt.Fprintf(&b, "checked at the destination: %d tags, %d manifests, %d blobs, %d broken; digests compared with the source's\n",
				r.Check.Summary.Tags, r.Check.Summary.Manifests, r.Check.Summary.Blobs, r.Check.Summary.BrokenImages)
		}
	} else if s.TagsToCopy > 0 {
		b.WriteString("dry run: nothing copied (run with --apply to copy)\n")
	}
	if p := r.Prune; p != nil && p.Plan != nil {
		ps := p.Plan.Summary
		fmt.Fprintf(&b, "prune: %d tags at the destination are not at the source; %d untagged manifests go with them\n", ps.TagsDeleted, ps.UntaggedDeleted)
		for _, rp := range p.Plan.Repos {
			for _, d := range rp.Deleted {
				verb := "delete"
				if p.Applied {
					verb = "deleted"
				}
				fmt.Fprintf(&b, "  %-7s %s:%s  %s\n", verb, rp.Repo, d.Tag, d.Digest)
			}
			for _, k := range rp.Kept {
				if len(k.Reasons) > 0 && strings.HasPrefix(k.Reasons[0], "shares digest") {
					fmt.Fprintf(&b, "  keep    %s:%s  %s (%s)\n", rp.Repo, k.Tag, k.Digest, k.Reasons[0])
				}
			}
			if rp.Refused != "" {
				fmt.Fprintf(&b, "  REFUSED %s: %s\n", rp.Repo, rp.Refused)
			}
		}
		for _, e := range p.Errors {
			fmt.Fprintf(&b, "  error: %s\n", e)
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error: %s\n", e)
	}
	switch r.Status {
	case job.StatusOK:
		b.WriteString("status: ok\n")
	case job.StatusFailed:
		fmt.Fprintf(&b, "status: failed: %s\n", r.Error)
	default:
		fmt.Fprintf(&b, "status: incomplete: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the run as one indented JSON document.
func (r *MirrorResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Result turns the run into a job.Result: a finding per tag copied (or
// planned) and per failure, and the summary as counters.
func (r *MirrorResult) Result() job.Result {
	s := r.Summary
	res := job.Result{Status: r.Status, Error: r.Error, Started: r.Started, Duration: r.Duration, Counters: map[string]float64{
		"repositories":   float64(s.Repositories),
		"tags_identical": float64(s.TagsIdentical),
		"tags_to_copy":   float64(s.TagsToCopy),
		"tags_copied":    float64(s.TagsCopied),
		"tags_failed":    float64(s.TagsFailed),
		"tags_differing": float64(s.TagsDiffering),
		"bytes_to_move":  float64(s.BytesToMove),
		"bytes_moved":    float64(s.BytesMoved),
		"blobs_uploaded": float64(s.BlobsUploaded),
		"blobs_mounted":  float64(s.BlobsMounted),
		"requests":       float64(s.Requests),
	}}
	for _, t := range r.Tags {
		switch t.State {
		case MirrorCopy:
			res.Findings = append(res.Findings, job.Finding{Kind: "planned-copy", Subject: t.Subject(), Message: fmt.Sprintf("%s to %s", t.Digest, t.Target)})
		case MirrorCopied:
			res.Findings = append(res.Findings, job.Finding{Kind: "copied", Subject: t.Subject(), Message: fmt.Sprintf("%s to %s", t.Digest, t.Target)})
		case MirrorFailed:
			res.Findings = append(res.Findings, job.Finding{Kind: "copy-failed", Subject: t.Subject(), Message: t.Error})
		}
	}
	if r.Prune != nil {
		pr := r.Prune.Result()
		for _, f := range pr.Findings {
			f.Kind = "prune-" + f.Kind
			res.Findings = append(res.Findings, f)
		}
	}
	for _, e := range r.Errors {
		res.Findings = append(res.Findings, job.Finding{Kind: "error", Message: e})
	}
	return res
}
