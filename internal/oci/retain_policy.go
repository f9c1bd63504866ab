package oci

import (
	"cmp"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxDeleteShare is the safety brake: a plan that deletes more than
// this share of one repository's tags is refused unless forced.
const DefaultMaxDeleteShare = 0.5

// DefaultKeepTags protects `latest` when a rule names no keep-tag pattern.
var DefaultKeepTags = []string{"latest"}

// RetentionRule is what to keep in the repositories it matches.
//
// Patterns (Repos and KeepTags) are globs in path.Match syntax, matched
// against the whole name: `*` matches any run of characters except `/`,
// `?` one character, `[0-9]` a class. So `team/*` matches team/app but not
// team/app/sub, and `v*` matches v1.2 and vnext.
type RetentionRule struct {
	// Repos are the repository patterns the rule applies to; empty means
	// every repository (the default rule).
	Repos []string `json:"repositories,omitempty"`
	// Keep is how many of the newest tags to keep. Tags protected by
	// KeepTags do not count: keep 2 with `latest` keeps latest and the two
	// newest other tags.
	Keep int `json:"keep"`
	// KeepTags are patterns of tags always kept; nil means DefaultKeepTags,
	// an empty non-nil slice means none.
	KeepTags []string `json:"keep_tags"`
	// KeepYoungerThan keeps every tag created less than this long ago (0:
	// no age protection). A tag whose creation time is unknown is never
	// deleted by a rule with an age limit.
	KeepYoungerThan time.Duration `json:"keep_younger_than,omitempty"`
}

// RetentionPolicy is the rules, first match wins, then the default rule.
type RetentionPolicy struct {
	Rules   []RetentionRule `json:"rules,omitempty"`
	Default RetentionRule   `json:"default"`
	// MaxDeleteShare is the brake (0 means DefaultMaxDeleteShare); Force
	// releases it.
	MaxDeleteShare float64 `json:"max_delete_share"`
	Force          bool    `json:"force,omitempty"`
}

// Validate checks every pattern; the error names the first bad one.
func (p RetentionPolicy) Validate() error {
	rules := append(append([]RetentionRule{}, p.Rules...), p.Default)
	for _, r := range rules {
		if r.Keep < 0 {
			return fmt.Errorf("keep %d: must be 0 or more", r.Keep)
		}
		if r.KeepYoungerThan < 0 {
			return fmt.Errorf("keep younger than %v: must not be negative", r.KeepYoungerThan)
		}
		for _, pat := range append(append([]string{}, r.Repos...), r.KeepTags...) {
			if err := ValidPattern(pat); err != nil {
				return err
			}
		}
	}
	if p.MaxDeleteShare < 0 || p.MaxDeleteShare > 1 {
		return fmt.Errorf("max delete share %v: valid is 0 to 1", p.MaxDeleteShare)
	}
	return nil
}

// ValidPattern reports whether pat is a usable glob.
func ValidPattern(pat string) error {
	if pat == "" {
		return fmt.Errorf("empty pattern")
	}
	if _, err := path.Match(pat, ""); err != nil {
		return fmt.Errorf("pattern %q: %w", pat, err)
	}
	return nil
}

// matchAny reports the first pattern that matches name.
func matchAny(patterns []string, name string) (string, bool) {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return p, true
		}
	}
	return "", false
}

// RuleFor returns the rule for repo: the first rule with a matching
// pattern, else the default.
func (p RetentionPolicy) RuleFor(repo string) RetentionRule {
	for _, r := range p.Rules {
		if _, ok := matchAny(r.Repos, repo); ok {
			return r
		}
	}
	return p.Default
}

func (r RetentionRule) keepTags() []string {
	if r.KeepTags == nil {
		return DefaultKeepTags
	}
	return r.KeepTags
}

func (p RetentionPolicy) maxShare() float64 {
	if p.MaxDeleteShare == 0 {
		return DefaultMaxDeleteShare
	}
	return p.MaxDeleteShare
}

// Orders a plan ranks tags by.
const (
	OrderCreated = "created" // image creation time (backend, or config blob)
	OrderVersion = "version" // semver-ish tag names, every ranked tag parses
)

// version is a semver-ish tag: an optional v, one to four dot-separated
// numbers, an optional -prerelease and +build (ignored).
type version struct {
	nums [4]uint64
	n    int
	pre  string
}

// parseVersion parses v1, 1.2, v1.2.3, 1.2.3.4, 1.2.3-rc.1, 1.2.3+build.
func parseVersion(tag string) (version, bool) {
	s := strings.TrimPrefix(strings.TrimPrefix(tag, "v"), "V")
	s, _, _ = strings.Cut(s, "+")
	s, pre, hasPre := strings.Cut(s, "-")
	if hasPre && pre == "" {
		return version{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return version{}, false
	}
	var v version
	for i, p := range parts {
		if p == "" || len(p) > 19 {
			return version{}, false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return version{}, false
		}
		v.nums[i] = n
	}
	v.n = len(parts)
	v.pre = pre
	return v, true
}

// compareVersions orders a before b when a is the older version. A
// prerelease is older than its release; prereleases compare by their dot
// parts, numerically where both are numbers.
func compareVersions(a, b version) int {
	for i := range a.nums {
		if c := cmp.Compare(a.nums[i], b.nums[i]); c != 0 {
			return c
		}
	}
	switch {
	case a.pre == b.pre:
		return cmp.Compare(a.n, b.n)
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	ap, bp := strings.Split(a.pre, "."), strings.Split(b.pre, ".")
	for i := 0; i < len(ap) && i < len(bp); i++ {
		an, aerr := strconv.ParseUint(ap[i], 10, 64)
		bn, berr := strconv.ParseUint(bp[i], 10, 64)
		var c int
		switch {
		case aerr == nil && berr == nil:
			c = cmp.Compare(an, bn)
		case aerr == nil:
			c = -1
		case berr == nil:
			c = 1
		default:
			c = cmp.Compare(ap[i], bp[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ap), len(bp))
}

// ParseAge parses a keep-younger-than age: a Go duration (72h, 90m) or a
// whole number of days (30d). It must be positive.
func ParseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 100*365 {
			return 0, fmt.Errorf("%q is not a positive age (e.g. 30d or 72h)", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive age (e.g. 30d or 72h)", s)
	}
	return d, nil
}
