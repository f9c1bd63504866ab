package oci

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
)

// RetentionResult is one run of `oci retain`: the plan, what was deleted,
// and the re-check of every kept tag.
type RetentionResult struct {
	Plan    *RetentionPlan `json:"plan"`
	Applied bool           `json:"applied"`
	// DeletedTags and DeletedUntagged count what the backend confirmed.
	DeletedTags     int `json:"deleted_tags"`
	DeletedUntagged int `json:"deleted_untagged"`
	// Skipped are untagged manifests left because deleting a parent failed.
	Skipped []string `json:"skipped,omitempty"`
	// Errors are deletions that failed, and why the run could not finish.
	Errors []string `json:"errors,omitempty"`
	// Recheck is the deep check of every kept tag after applying.
	Recheck  *Report       `json:"recheck,omitempty"`
	Status   job.Status    `json:"status"`
	Error    string        `json:"error,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
}

// Result turns the run into a job.Result: a finding per deleted tag, per
// refused repository and per problem of a kept image.
func (r *RetentionResult) Result() job.Result {
	res := job.Result{Status: r.Status, Error: r.Error, Started: r.Started, Duration: r.Duration, Counters: map[string]float64{}}
	if p := r.Plan; p != nil {
		res.Counters["planned_deleted_tags"] = float64(p.Summary.TagsDeleted)
		res.Counters["planned_deleted_untagged"] = float64(p.Summary.UntaggedDeleted)
		res.Counters["kept_tags"] = float64(p.Summary.TagsKept)
		res.Counters["freed_bytes"] = float64(p.Summary.FreedBytes)
		for _, rp := range p.Repos {
			if rp.Refused != "" {
				res.Findings = append(res.Findings, job.Finding{Kind: "refused", Subject: rp.Repo, Message: rp.Refused})
			}
			verb := "planned-delete"
			if r.Applied {
				verb = "deleted"
			}
			for _, d := range rp.Deleted {
				res.Findings = append(res.Findings, job.Finding{Kind: verb, Subject: rp.Repo + ":" + d.Tag, Message: d.Reason})
			}
		}
	}
	res.Counters["deleted_tags"] = float64(r.DeletedTags)
	res.Counters["deleted_untagged"] = float64(r.DeletedUntagged)
	if r.Recheck != nil {
		rr := r.Recheck.Result()
		res.Findings = append(res.Findings, rr.Findings...)
		res.Counters["kept_broken_images"] = float64(r.Recheck.Summary.BrokenImages)
	}
	for _, e := range r.Errors {
		res.Findings = append(res.Findings, job.Finding{Kind: "error", Message: e})
	}
	return res
}

// WriteText writes the plan (kept tags with reasons, deletions, bytes), what
// was applied, the re-check, and the status.
func (r *RetentionResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Plan != nil {
		r.Plan.writeText(&b)
	}
	if r.Applied {
		fmt.Fprintf(&b, "applied: deleted %d tags and %d untagged manifests\n", r.DeletedTags, r.DeletedUntagged)
	} else if r.Plan != nil && !r.Plan.Refused {
		b.WriteString("dry run: nothing deleted (run with --apply to delete)\n")
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "skipped: %s\n", s)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error: %s\n", e)
	}
	if r.Recheck != nil {
		b.WriteString("\nre-check of every kept tag:\n")
		if err := r.Recheck.WriteText(&b); err != nil {
			return err
		}
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
func (r *RetentionResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the plan alone.
func (p *RetentionPlan) WriteText(w io.Writer) error {
	var b strings.Builder
	p.writeText(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *RetentionPlan) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "retention plan for %s (%s backend)\n", p.Registry, p.Backend)
	for _, rp := range p.Repos {
		b.WriteString("\n")
		rule := fmt.Sprintf("keep newest %d by %s", rp.Rule.Keep, rp.Order)
		if len(rp.Rule.KeepTags) > 0 {
			rule += ", keep-tag " + strings.Join(rp.Rule.KeepTags, " ")
		}
		if rp.Rule.KeepYoungerThan > 0 {
			rule += ", keep younger than " + rp.Rule.KeepYoungerThan.String()
		}
		fmt.Fprintf(b, "%s: %d tags (%s)\n", rp.Repo, rp.Tags, rule)
		width := 0
		for _, k := range rp.Kept {
			width = max(width, len(k.Tag))
		}
		for _, d := range rp.Deleted {
			width = max(width, len(d.Tag))
		}
		for _, k := range rp.Kept {
			fmt.Fprintf(b, "  keep    %-*s  %s  %s\n", width, k.Tag, k.Digest, strings.Join(k.Reasons, "; "))
		}
		for _, d := range rp.Deleted {
			when := ""
			if !d.Created.IsZero() {
				when = "created " + d.Created.UTC().Format(time.RFC3339) + ", "
			}
			fmt.Fprintf(b, "  delete  %-*s  %s  %s%s\n", width, d.Tag, d.Digest, when, d.Reason)
		}
		for _, u := range rp.Untagged {
			what := u.Reason
			if len(u.Parents) > 0 {
				what += " " + strings.Join(u.Parents, ", ")
			}
			if u.Platform != "" {
				what = u.Platform + ", " + what
			}
			fmt.Fprintf(b, "  delete  untagged %s  %s\n", u.Digest, what)
		}
		for _, wn := range rp.Warnings {
			fmt.Fprintf(b, "  warning: %s\n", wn)
		}
		fmt.Fprintf(b, "  frees %s\n", formatBytes(rp.FreedBytes))
		if rp.Refused != "" {
			fmt.Fprintf(b, "  REFUSED: %s\n", rp.Refused)
		}
	}
	s := p.Summary
	fmt.Fprintf(b, "\ntotal: %d repositories, %d tags kept, %d tags and %d untagged manifests to delete, %s expected to be freed by the registry's garbage collection\n",
		s.Repositories, s.TagsKept, s.TagsDeleted, s.UntaggedDeleted, formatBytes(s.FreedBytes))
	if p.Refused {
		fmt.Fprintf(b, "refused: the plan deletes too large a share of %d repositories' tags; nothing is deleted\n", s.Refused)
	}
}

// formatBytes is "1.5 MiB (1572864 bytes)", or "512 bytes".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTP"[exp], n)
}
