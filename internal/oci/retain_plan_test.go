package oci_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/oci"
)

var update = flag.Bool("update", false, "rewrite testdata golden files from the current output")

// golden compares got with testdata/NAME, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (go test -update creates it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// pop builds planner input by name: every digest is the sha256 of a name,
// and names come back in the summaries.
type pop struct {
	names map[string]string // digest -> name
	repos map[string]*oci.RetentionRepo
	order []string
}

func newPop() *pop { return &pop{names: map[string]string{}, repos: map[string]*oci.RetentionRepo{}} }

func (p *pop) d(name string) string {
	d := oci.Digest([]byte(name))
	p.names[d] = name
	return d
}

func (p *pop) repo(name string) *oci.RetentionRepo {
	r := p.repos[name]
	if r == nil {
		r = &oci.RetentionRepo{Repo: name, Manifests: map[string]*oci.RetentionManifest{}}
		p.repos[name] = r
		p.order = append(p.order, name)
	}
	return r
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

// image adds an image manifest (size 500) with a config (100) and layers
// (1000 each) named after their content, and returns its name.
func (p *pop) image(repo, name string, created time.Time, layers ...string) string {
	m := &oci.RetentionManifest{Digest: p.d(name), Size: 500, Created: created}
	m.Blobs = append(m.Blobs, oci.Descriptor{Digest: p.d(name + "/config"), Size: 100})
	for _, l := range layers {
		m.Blobs = append(m.Blobs, oci.Descriptor{Digest: p.d(l), Size: 1000})
	}
	p.repo(repo).Manifests[m.Digest] = m
	return name
}

// index adds an index (size 300) over children named name/ARCH, each an
// image with the base layer and its own layer; created is the children's.
func (p *pop) index(repo, name string, created time.Time, base string, archs ...string) string {
	m := &oci.RetentionManifest{Digest: p.d(name), Size: 300, Index: true, Created: created}
	for _, a := range archs {
		child := p.image(repo, name+"/"+a, created, base, name+"/"+a+"/layer")
		m.Children = append(m.Children, oci.Descriptor{Digest: p.d(child), Size: 500, Platform: &oci.Platform{OS: "linux", Architecture: a}})
	}
	p.repo(repo).Manifests[m.Digest] = m
	return name
}

// indexOf adds an index over existing manifests.
func (p *pop) indexOf(repo, name string, created time.Time, children ...string) string {
	m := &oci.RetentionManifest{Digest: p.d(name), Size: 300, Index: true, Created: created}
	for _, c := range children {
		m.Children = append(m.Children, oci.Descriptor{Digest: p.d(c), Size: 500, Platform: &oci.Platform{OS: "linux", Architecture: c[strings.LastIndex(c, "/")+1:]}})
	}
	p.repo(repo).Manifests[m.Digest] = m
	return name
}

func (p *pop) tag(repo, tag, manifest string) {
	r := p.repo(repo)
	r.Tags = append(r.Tags, oci.TagRef{Repo: repo, Tag: tag, Digest: p.d(manifest)})
}

func (p *pop) untagged(repo string, manifests ...string) {
	r := p.repo(repo)
	r.UntaggedListed = true
	for _, m := range manifests {
		r.Untagged = append(r.Untagged, p.d(m))
	}
}

func (p *pop) input() []oci.RetentionRepo {
	var out []oci.RetentionRepo
	for _, n := range p.order {
		out = append(out, *p.repos[n])
	}
	return out
}

// summary is the plan in names, one line per decision.
func (p *pop) summary(plan *oci.RetentionPlan) string {
	var b strings.Builder
	for _, rp := range plan.Repos {
		fmt.Fprintf(&b, "%s by %s, frees %d\n", rp.Repo, rp.Order, rp.FreedBytes)
		for _, k := range rp.Kept {
			fmt.Fprintf(&b, "  keep %s: %s\n", k.Tag, strings.Join(k.Reasons, "; "))
		}
		for _, d := range rp.Deleted {
			fmt.Fprintf(&b, "  delete %s: %s\n", d.Tag, d.Reason)
		}
		var lines []string
		for _, u := range rp.Untagged {
			lines = append(lines, fmt.Sprintf("  delete untagged %s: %s %s\n", p.names[u.Digest], u.Reason, strings.Join(u.Parents, ",")))
		}
		slices.Sort(lines)
		b.WriteString(strings.Join(lines, ""))
		for _, w := range rp.Warnings {
			for d, n := range p.names {
				w = strings.ReplaceAll(w, d, n)
			}
			fmt.Fprintf(&b, "  warning: %s\n", w)
		}
		if rp.Refused != "" {
			fmt.Fprintf(&b, "  refused: %s\n", rp.Refused)
		}
	}
	fmt.Fprintf(&b, "total frees %d, refused %v\n", plan.Summary.FreedBytes, plan.Refused)
	return b.String()
}

func TestPlanRetention(t *testing.T) {
	t.Parallel()
	keep2 := oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 2}}
	for _, tc := range []struct {
		name   string
		policy oci.RetentionPolicy
		build  func(p *pop)
		want   string
	}{
		{
			name:   "keep newest 2 by created, latest protected",
			policy: keep2,
			build: func(p *pop) {
				for i := 1; i <= 5; i++ {
					p.tag("app", fmt.Sprintf("v%d", i), p.image("app", fmt.Sprintf("app%d", i), day(i), "base", fmt.Sprintf("own%d", i)))
				}
				p.tag("app", "latest", "app5")
			},
			// v1..v3 go: 3 manifests, 3 configs, 3 own layers; the base stays.
			want: `app by created, frees 4800
  keep latest: matches keep-tag "latest"
  keep v4: newest 2 (#2 by created)
  keep v5: newest 2 (#1 by created)
  delete v1: not among the newest 2
  delete v2: not among the newest 2
  delete v3: not among the newest 2
total frees 4800, refused false
`,
		},
		{
			name:   "a candidate sharing a digest with a kept tag is kept",
			policy: keep2,
			build: func(p *pop) {
				for i := 1; i <= 4; i++ {
					p.tag("app", fmt.Sprintf("v%d", i), p.image("app", fmt.Sprintf("app%d", i), day(i), "base"))
				}
				p.tag("app", "latest", "app1") // latest points at the oldest image
				p.tag("app", "v1.0", "app1")
			},
			want: `app by created, frees 600
  keep latest: matches keep-tag "latest"
  keep v1: shares digest with kept tag latest
  keep v1.0: shares digest with kept tag latest
  keep v3: newest 2 (#2 by created)
  keep v4: newest 2 (#1 by created)
  delete v2: not among the newest 2
total frees 600, refused false
`,
		},
		{
			name:   "children of deleted indexes are deleted, a child shared with a kept index stays",
			policy: keep2,
			build: func(p *pop) {
				p.tag("multi", "v1", p.index("multi", "m1", day(1), "base", "amd64", "arm64"))
				p.tag("multi", "v2", p.index("multi", "m2", day(2), "base", "amd64", "arm64"))
				// v3 reuses v2's arm64 child.
				p.image("multi", "m3/amd64", day(3), "base", "m3/amd64/layer")
				p.tag("multi", "v3", p.indexOf("multi", "m3", day(3), "m3/amd64", "m2/arm64"))
				p.tag("multi", "v4", p.index("multi", "m4", day(4), "base", "amd64", "arm64"))
			},
			// Freed: m1 (300) + 2 children (500+100+1000 each), m2 (300) + its amd64 child (1600).
			want: `multi by created, frees 5400
  keep v3: newest 2 (#2 by created)
  keep v4: newest 2 (#1 by created)
  delete v1: not among the newest 2
  delete v2: not among the newest 2
  delete untagged m1/amd64: child of deleted index v1
  delete untagged m1/arm64: child of deleted index v1
  delete untagged m2/amd64: child of deleted index v2
total frees 5400, refused false
`,
		},
		{
			name:   "version order when creation times are unknown",
			policy: oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 2, KeepTags: []string{"latest", "stable-*"}}},
			build: func(p *pop) {
				for _, v := range []string{"v1.2.0", "v1.10.0", "v1.9.3", "v1.10.0-rc.1", "v2.0.0-rc.2", "v2.0.0-rc.10"} {
					p.tag("ver", v, p.image("ver", "img-"+v, time.Time{}))
				}
				p.tag("ver", "stable-1", p.image("ver", "img-stable", time.Time{}))
			},
			want: `ver by version, frees 2400
  keep stable-1: matches keep-tag "stable-*"
  keep v2.0.0-rc.10: newest 2 (#1 by version)
  keep v2.0.0-rc.2: newest 2 (#2 by version)
  delete v1.10.0: not among the newest 2
  delete v1.10.0-rc.1: not among the newest 2
  delete v1.2.0: not among the newest 2
  delete v1.9.3: not among the newest 2
  refused: would delete 4 of 7 tags (57%), more than the limit of 50%; nothing is deleted anywhere unless forced
total frees 2400, refused true
`,
		},
		{
			name:   "unknown creation times that are not versions are kept",
			policy: oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1}},
			build: func(p *pop) {
				p.tag("mixed", "main", p.image("mixed", "a", time.Time{}))
				p.tag("mixed", "old", p.image("mixed", "b", day(1)))
				p.tag("mixed", "older", p.image("mixed", "c", day(0)))
				p.tag("mixed", "new", p.image("mixed", "d", day(2)))
			},
			want: `mixed by created, frees 1200
  keep main: creation time unknown
  keep new: newest 1 (#1 by created)
  delete old: not among the newest 1
  delete older: not among the newest 1
total frees 1200, refused false
`,
		},
		{
			name:   "keep younger than",
			policy: oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1, KeepYoungerThan: 72 * time.Hour}},
			build: func(p *pop) {
				for i := 1; i <= 4; i++ {
					p.tag("young", fmt.Sprintf("b%d", i), p.image("young", fmt.Sprintf("y%d", i), t0.Add(-time.Duration(i)*30*time.Hour)))
				}
			},
			want: `young by created, frees 1200
  keep b1: newest 1 (#1 by created); younger than 72h0m0s
  keep b2: younger than 72h0m0s
  delete b3: not among the newest 1, older than 72h0m0s
  delete b4: not among the newest 1, older than 72h0m0s
total frees 1200, refused false
`,
		},
		{
			name: "brake refuses more than half, force releases it",
			policy: oci.RetentionPolicy{
				Default: oci.RetentionRule{Keep: 1},
				Rules:   []oci.RetentionRule{{Repos: []string{"keepall/*"}, Keep: 10}},
			},
			build: func(p *pop) {
				for i := 1; i <= 4; i++ {
					p.tag("many", fmt.Sprintf("t%d", i), p.image("many", fmt.Sprintf("many%d", i), day(i)))
					p.tag("keepall/x", fmt.Sprintf("t%d", i), p.image("keepall/x", fmt.Sprintf("x%d", i), day(i)))
				}
			},
			want: `keepall/x by created, frees 0
  keep t1: newest 10 (#4 by created)
  keep t2: newest 10 (#3 by created)
  keep t3: newest 10 (#2 by created)
  keep t4: newest 10 (#1 by created)
many by created, frees 1800
  keep t4: newest 1 (#1 by created)
  delete t1: not among the newest 1
  delete t2: not among the newest 1
  delete t3: not among the newest 1
  refused: would delete 3 of 4 tags (75%), more than the limit of 50%; nothing is deleted anywhere unless forced
total frees 1800, refused true
`,
		},
		{
			name:   "force",
			policy: oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1}, Force: true},
			build: func(p *pop) {
				for i := 1; i <= 4; i++ {
					p.tag("many", fmt.Sprintf("t%d", i), p.image("many", fmt.Sprintf("many%d", i), day(i)))
				}
			},
			want: `many by created, frees 1800
  keep t4: newest 1 (#1 by created)
  delete t1: not among the newest 1
  delete t2: not among the newest 1
  delete t3: not among the newest 1
total frees 1800, refused false
`,
		},
		{
			name:   "listed untagged versions: orphans go, children of kept indexes and referrers stay",
			policy: oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1}},
			build: func(p *pop) {
				p.tag("gitea", "v1", p.index("gitea", "g1", day(1), "base", "amd64", "arm64"))
				p.tag("gitea", "v2", p.index("gitea", "g2", day(2), "base", "amd64", "arm64"))
				p.image("gitea", "g0/amd64", day(0), "base", "g0/amd64/layer") // its index's tag went long ago
				sig := p.image("gitea", "sig", day(2))
				p.repo("gitea").Manifests[p.d(sig)].Subject = p.d("g2")
				p.untagged("gitea", "g1/amd64", "g1/arm64", "g2/amd64", "g2/arm64", "g0/amd64", "sig")
			},
			want: `gitea by created, frees 5100
  keep v2: newest 1 (#1 by created)
  delete v1: not among the newest 1
  delete untagged g0/amd64: orphaned: no tag reaches it 
  delete untagged g1/amd64: child of deleted index v1
  delete untagged g1/arm64: child of deleted index v1
  warning: untagged sig refers to g2 (a signature or attestation); left alone
total frees 5100, refused false
`,
		},
		{
			name:   "a kept image that could not be read whole stops untagged deletions",
			policy: oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1}},
			build: func(p *pop) {
				p.tag("hurt", "v1", p.index("hurt", "h1", day(1), "base", "amd64"))
				p.tag("hurt", "v2", p.index("hurt", "h2", day(2), "base", "amd64"))
				p.repo("hurt").Manifests[p.d("h2/amd64")].Problem = "missing"
			},
			want: `hurt by created, frees 300
  keep v2: newest 1 (#1 by created)
  delete v1: not among the newest 1
  warning: kept tag v2 could not be read whole; it is kept, and no untagged manifest of this repository is deleted
total frees 300, refused false
`,
		},
		{
			name:   "blobs another repository keeps are not counted as freed",
			policy: oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1}},
			build: func(p *pop) {
				p.tag("one", "old", p.image("one", "shared-img", day(1), "shared-layer"))
				p.tag("one", "new", p.image("one", "one-new", day(2)))
				p.tag("two", "only", p.image("two", "shared-img", day(1), "shared-layer"))
			},
			want: `one by created, frees 0
  keep new: newest 1 (#1 by created)
  delete old: not among the newest 1
two by created, frees 0
  keep only: newest 1 (#1 by created)
total frees 0, refused false
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPop()
			tc.build(p)
			plan := oci.PlanRetention(tc.policy, p.input(), t0)
			if diff := cmp.Diff(tc.want, p.summary(plan)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlanRetentionText pins the human plan with a golden file.
func TestPlanRetentionText(t *testing.T) {
	t.Parallel()
	p := newPop()
	p.tag("app", "latest", p.image("app", "app3", day(3), "base", "own3"))
	for i := 1; i <= 3; i++ {
		p.tag("app", fmt.Sprintf("1.%d", i), p.image("app", fmt.Sprintf("app%d", i), day(i), "base", fmt.Sprintf("own%d", i)))
	}
	p.tag("app", "0.9", p.index("app", "multi", day(0), "base", "amd64", "arm64"))
	p.tag("app", "stable", "app1")
	plan := oci.PlanRetention(oci.RetentionPolicy{Default: oci.RetentionRule{Keep: 1, KeepTags: []string{"latest", "stable"}}}, p.input(), t0)
	plan.Backend, plan.Registry = "registry", "registry.example.org"
	res := &oci.RetentionResult{Plan: plan, Status: "ok"}
	var b strings.Builder
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "retain/plan.golden", b.String())
}
