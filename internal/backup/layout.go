package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// TimeFormat names a dump file: UTC, sortable, safe in every file system,
// to the millisecond so that two runs in one second do not collide.
const TimeFormat = "20060102T150405.000Z"

// EscapeName makes a server or database name one safe path element:
// bytes outside [A-Za-z0-9_-] and a leading '.' become %XX, so "..",
// "a/b" and names with spaces or quotes map to distinct, reversible
// directory names.
func EscapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		safe := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0
		if safe {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "%"
	}
	return b.String()
}

// UnescapeName reverses EscapeName.
func UnescapeName(s string) (string, error) {
	if s == "%" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), nil
}

// DumpFile is one complete dump on disk: the dump, its .sha256 sidecar
// and its .json manifest all present.
type DumpFile struct {
	Path string    `json:"path"`
	Time time.Time `json:"time"`
	Size int64     `json:"size_bytes"`
}

// Dir is <root>/<server>/<database>, each name escaped.
func Dir(root, server, db string) string {
	return filepath.Join(root, EscapeName(server), EscapeName(db))
}

// ListDumps returns the complete dumps in dir, oldest first. Temp files
// (leading '.') and dumps missing a sidecar or manifest are not listed:
// they are not good dumps, and retention never touches them.
func ListDumps(dir string) ([]DumpFile, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	var out []DumpFile
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".sha256") || !e.Type().IsRegular() {
			continue
		}
		// <stamp>.<ext>, where ext may have dots of its own (sql.gz).
		if len(n) <= len(TimeFormat) || n[len(TimeFormat)] != '.' {
			continue
		}
		stamp := n[:len(TimeFormat)]
		t, err := time.Parse(TimeFormat, stamp)
		if err != nil || !have[n+".sha256"] || !have[n+".json"] {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, DumpFile{Path: filepath.Join(dir, n), Time: t, Size: fi.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// fileSHA256 reads path through: its sha256 and its size.
func fileSHA256(path string) (sum string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// CheckDump proves the dump at path is the one its sidecar and manifest
// describe, and returns its manifest.
func CheckDump(path string) (Manifest, error) {
	sc, err := os.ReadFile(path + ".sha256")
	if err != nil {
		return Manifest{}, fmt.Errorf("reading checksum of %s: %w", path, err)
	}
	want, err := ParseSidecar(sc, filepath.Base(path))
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	mb, err := os.ReadFile(path + ".json")
	if err != nil {
		return Manifest{}, fmt.Errorf("reading manifest of %s: %w", path, err)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	if m.SHA256 != want {
		return Manifest{}, fmt.Errorf("%s: manifest and sidecar disagree on the checksum", path)
	}
	got, _, err := fileSHA256(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("checksumming %s: %w", path, err)
	}
	if got != want {
		return Manifest{}, fmt.Errorf("%s: %w (sha256 %s, sidecar says %s)", path, ErrChecksum, got, want)
	}
	return m, nil
}

// ErrChecksum is a dump whose bytes are not the ones that were written.
var ErrChecksum = errors.New("checksum mismatch")

// removeDump deletes a dump and its sidecar and manifest.
func removeDump(path string) error {
	var errs []error
	for _, p := range []string{path + ".json", path + ".sha256", path} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// staleTempAge is how old a dump's temp file must be before a run removes
// it: no dump runs for a day, so it was left by a run that was killed.
const staleTempAge = 24 * time.Hour

// removeStaleTemps deletes temp files of dumps (".<stamp>.<ext>.tmp-*",
// the names writeDump and atomicfile.Write create) older than staleTempAge in
// dir, and returns what it removed.
func removeStaleTemps(dir string, now time.Time) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !strings.Contains(n, ".tmp-") || !e.Type().IsRegular() {
			continue
		}
		if _, err := time.Parse(TimeFormat, strings.TrimPrefix(n, ".")[:min(len(TimeFormat), len(n)-1)]); err != nil {
			continue // not named like ours
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < staleTempAge {
			continue
		}
		p := filepath.Join(dir, n)
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
