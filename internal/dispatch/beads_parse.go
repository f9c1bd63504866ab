package dispatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// parseIssues reads a bd --json reply holding issues. Commands differ in
// shape: show, update, list and ready answer an array, create answers one
// object; an empty reply or "null" is no issues.
func parseIssues(b []byte) ([]Issue, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	switch b[0] {
	case '[':
		var is []Issue
		if err := json.Unmarshal(b, &is); err != nil {
			return nil, fmt.Errorf("reading bd reply: %w", err)
		}
		return is, nil
	case '{':
		var i Issue
		if err := json.Unmarshal(b, &i); err != nil {
			return nil, fmt.Errorf("reading bd reply: %w", err)
		}
		return []Issue{i}, nil
	default:
		return nil, fmt.Errorf("reading bd reply: not JSON: %q", snippet(b))
	}
}

// parseOneIssue reads a reply that must describe exactly one issue.
func parseOneIssue(b []byte, id string) (Issue, error) {
	is, err := parseIssues(b)
	if err != nil {
		return Issue{}, err
	}
	if len(is) != 1 {
		return Issue{}, fmt.Errorf("issue %s: bd returned %d issues, want 1", id, len(is))
	}
	if is[0].ID == "" {
		return Issue{}, fmt.Errorf("issue %s: bd returned an issue without an id", id)
	}
	return is[0], nil
}

// isClaimConflict tells a lost claim from other failures by bd's stderr:
// a failed claim is plain text, not JSON, naming "already claimed" or
// "not claimable".
func isClaimConflict(stderr []byte) bool {
	s := strings.ToLower(string(stderr))
	return strings.Contains(s, "already claimed") || strings.Contains(s, "not claimable")
}

// isNotFound recognises bd's "no issue" errors.
func isNotFound(stderr []byte) bool {
	s := strings.ToLower(string(stderr))
	return strings.Contains(s, "not found") || strings.Contains(s, "no issue")
}

// snippet is the start of b, for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
