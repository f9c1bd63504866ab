package dispatch

import (
	"testing"
)

func TestParseIssuesShapes(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in   string
		want int
		err  bool
	}{
		"array":  {`[{"id":"bd-1","title":"a","status":"open","updated_at":"2026-03-01T12:00:00Z"},{"id":"bd-2"}]`, 2, false},
		"object": {`{"id":"bd-1","title":"a"}`, 1, false},
		"empty":  {"", 0, false},
		"null":   {"null\n", 0, false},
		"text":   {"Error: issue already claimed by agent:x", 0, true},
		"broken": {`[{"id":`, 0, true},
	} {
		got, err := parseIssues([]byte(tc.in))
		if (err != nil) != tc.err || len(got) != tc.want {
			t.Errorf("%s: got %d issues, err %v", name, len(got), err)
		}
	}
}

func TestClaimConflictIsRecognised(t *testing.T) {
	t.Parallel()
	if !isClaimConflict([]byte("Error: claiming bd-1: issue already claimed by agent:x-slot-1\n")) {
		t.Error("already claimed not recognised")
	}
	if !isClaimConflict([]byte("Error: issue not claimable: status in_progress")) {
		t.Error("not claimable not recognised")
	}
	if isClaimConflict([]byte("Error: database is locked")) {
		t.Error("a lock error taken for a lost claim")
	}
}

func FuzzParseIssues(f *testing.F) {
	for _, s := range []string{`[{"id":"bd-1"}]`, `{"id":"x"}`, "null", "", "Error: x", `[{"updated_at":"bad"}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		is, err := parseIssues(b)
		if err != nil && is != nil {
			t.Fatalf("issues %v with error %v", is, err)
		}
		_, _ = parseOneIssue(b, "x")
		_ = isClaimConflict(b)
	})
}

func FuzzParseHealth(f *testing.F) {
	for _, s := range []string{`{"busy":false}`, `{"busy":true,"slots_in_use":2,"slots_total":4}`, `{"slots_total":-1}`, "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHealth(b)
		if err == nil && (h.Free() < 0 || h.Free() > 1000) {
			t.Fatalf("free slots %d from %q", h.Free(), b)
		}
	})
}
