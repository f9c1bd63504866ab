package backup

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const goodSum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestManifestRoundTrip(t *testing.T) {
	t.Parallel()
	m := Manifest{Format: ManifestFormat, Server: "pg", Database: "app",
		ServerInfo: ServerInfo{Flavor: "postgres", ServerVersion: "15.14", Tool: "pg_dump", ToolVersion: "pg_dump (PostgreSQL) 15.14"},
		Started:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Duration: 1.5, Size: 1234, SHA256: goodSum,
		Tables: map[string]int64{"public.users": 100}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestParseManifestRejects(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"not json":      "{",
		"unknown field": `{"format":1,"server":"a","database":"b","sha256":"` + goodSum + `","extra":1}`,
		"bad format":    `{"format":2,"server":"a","database":"b","sha256":"` + goodSum + `"}`,
		"bad sum":       `{"format":1,"server":"a","database":"b","sha256":"abc"}`,
		"negative rows": `{"format":1,"server":"a","database":"b","sha256":"` + goodSum + `","tables":{"t":-1}}`,
		"trailing":      `{"format":1,"server":"a","database":"b","sha256":"` + goodSum + `"} {}`,
	} {
		if _, err := ParseManifest([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseSidecar(t *testing.T) {
	t.Parallel()
	if s, err := ParseSidecar(sidecar(goodSum, "x.sql"), "x.sql"); err != nil || s != goodSum {
		t.Fatalf("own sidecar: %q %v", s, err)
	}
	for name, in := range map[string]string{
		"other file": goodSum + "  y.sql\n",
		"no newline": goodSum + "  x.sql",
		"two lines":  goodSum + "  x.sql\n" + goodSum + "  x.sql\n",
		"upper case": strings.ToUpper(goodSum) + "  x.sql\n",
		"one space":  goodSum + " x.sql\n",
		"short":      "abcd  x.sql\n",
	} {
		if _, err := ParseSidecar([]byte(in), "x.sql"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	m := Manifest{Format: 1, Server: "s", Database: "d", SHA256: goodSum, Tables: map[string]int64{"t": 1}}
	b, _ := m.Marshal()
	f.Add(b)
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(b); err != nil {
			t.Fatalf("a parsed manifest does not parse after Marshal: %v", err)
		}
	})
}

func FuzzParseSidecar(f *testing.F) {
	f.Add(sidecar(goodSum, "x.sql"), "x.sql")
	f.Add([]byte("  \n"), "")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		sum, err := ParseSidecar(data, name)
		if err != nil {
			return
		}
		if !isSHA256(sum) || string(sidecar(sum, name)) != string(data) {
			t.Fatalf("accepted %q as %q for %q", data, sum, name)
		}
	})
}
