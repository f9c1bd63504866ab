package oci

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ErrGCOutput means garbage-collect's output was not what labops knows
// (distribution 2.8's): no verdict can be drawn from it.
var ErrGCOutput = errors.New("unrecognised garbage-collect output")

// GCManifest is a manifest the collector would delete from one repository
// (with --delete-untagged): its revision link and tag index entries go,
// and its blob too unless something else marks it.
type GCManifest struct {
	Repo   string `json:"repository"`
	Digest string `json:"digest"`
}

// GCPlan is what `docker-registry garbage-collect --dry-run` says it would
// delete.
type GCPlan struct {
	Manifests []GCManifest `json:"manifests"`
	Blobs     []string     `json:"blobs"`
	Marked    int          `json:"blobs_marked"`
}

// gcSummaryRe is the collector's last summary line.
var gcSummaryRe = regexp.MustCompile(`^(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion$`)

// ParseGCOutput parses the standard output of distribution 2.8's
// garbage-collect. It prints, per repository, the repository's name on a
// line of its own, then "manifest eligible for deletion: D" (with
// --delete-untagged) and "REPO: marking manifest D " / "REPO: marking blob
// D" lines; then a blank line, "N blobs marked, M blobs and K manifests
// eligible for deletion", and one "blob eligible for deletion: D" line per
// blob. The output is untrusted text: anything else, a digest that is not
// one, or counts that disagree with the lines is ErrGCOutput, so that a
// different collector never gets a verdict.
func ParseGCOutput(out []byte) (*GCPlan, error) {
	plan := &GCPlan{}
	var (
		repo         string
		summary      bool
		wantBlobs    int
		wantManifest int
		n            int
	)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrGCOutput, n, fmt.Sprintf(format, args...))
	}
	for raw := range bytes.Lines(out) {
		n++
		line := strings.TrimRight(string(raw), " \r\n")
		switch {
		case line == "" || strings.HasPrefix(line, "time="):
			// blank, or a log line (logrus) that strayed onto stdout
		case strings.HasPrefix(line, "manifest eligible for deletion: "):
			d := strings.TrimPrefix(line, "manifest eligible for deletion: ")
			if !ValidDigest(d) || repo == "" || summary {
				return nil, bad("%q: not a digest, or outside a repository", line)
			}
			plan.Manifests = append(plan.Manifests, GCManifest{Repo: repo, Digest: d})
		case strings.HasPrefix(line, "blob eligible for deletion: "):
			d := strings.TrimPrefix(line, "blob eligible for deletion: ")
			if !ValidDigest(d) || !summary {
				return nil, bad("%q: not a digest, or before the summary", line)
			}
			plan.Blobs = append(plan.Blobs, d)
		case gcSummaryRe.MatchString(line):
			if summary {
				return nil, bad("a second summary line")
			}
			m := gcSummaryRe.FindStringSubmatch(line)
			var err error
			if plan.Marked, err = strconv.Atoi(m[1]); err != nil {
				return nil, bad("%q: %v", line, err)
			}
			if wantBlobs, err = strconv.Atoi(m[2]); err != nil {
				return nil, bad("%q: %v", line, err)
			}
			if wantManifest, err = strconv.Atoi(m[3]); err != nil {
				return nil, bad("%q: %v", line, err)
			}
			summary = true
		case strings.Contains(line, ": marking "):
			r, rest, _ := strings.Cut(line, ": marking ")
			what, d, _ := strings.Cut(rest, " ")
			if r != repo || (what != "manifest" && what != "blob") || !ValidDigest(d) || summary {
				return nil, bad("%q: not a marking line of repository %q", line, repo)
			}
		case ValidRepo(line) && !summary:
			repo = line
		default:
			return nil, bad("%q", line)
		}
	}
	switch {
	case !summary:
		return nil, fmt.Errorf("%w: no summary line (\"N blobs marked, ...\"): the collector did not finish", ErrGCOutput)
	case len(plan.Blobs) != wantBlobs:
		return nil, fmt.Errorf("%w: the summary says %d blobs eligible, %d are listed", ErrGCOutput, wantBlobs, len(plan.Blobs))
	case len(plan.Manifests) != wantManifest:
		return nil, fmt.Errorf("%w: the summary says %d manifests eligible, %d are listed", ErrGCOutput, wantManifest, len(plan.Manifests))
	}
	return plan, nil
}
