package backup

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ManifestFormat is the version of the manifest written beside each dump.
const ManifestFormat = 1

// Manifest is written beside each dump as <dump>.json: what was dumped,
// by which tool from which server, and the row count of every table at
// dump time, which verify compares a restore with.
type Manifest struct {
	Format   int    `json:"format"`
	Server   string `json:"server"`
	Database string `json:"database"`
	ServerInfo
	Started  time.Time        `json:"started"`
	Duration float64          `json:"duration_seconds"`
	Size     int64            `json:"size_bytes"`
	SHA256   string           `json:"sha256"`
	Tables   map[string]int64 `json:"tables"`
}

// ParseManifest decodes and checks a manifest read from disk.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return Manifest{}, errors.New("manifest: trailing data")
	}
	var problems []string
	if m.Format != ManifestFormat {
		problems = append(problems, fmt.Sprintf("format %d is not %d", m.Format, ManifestFormat))
	}
	if m.Database == "" || m.Server == "" {
		problems = append(problems, "server and database are required")
	}
	if !isSHA256(m.SHA256) {
		problems = append(problems, "sha256 is not 64 lower-case hex digits")
	}
	if m.Size < 0 || m.Duration < 0 {
		problems = append(problems, "negative size or duration")
	}
	for t, n := range m.Tables {
		if n < 0 {
			problems = append(problems, fmt.Sprintf("table %q has a negative row count", t))
		}
	}
	if len(problems) > 0 {
		return Manifest{}, fmt.Errorf("manifest: %s", strings.Join(problems, "; "))
	}
	return m, nil
}

// Marshal encodes m for disk.
func (m Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	return append(b, '\n'), err
}

func isSHA256(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// sidecar is a sha256sum-compatible line: "<hex>  <file name>\n", so that
// `sha256sum -c` checks a dump without labops.
func sidecar(sum, name string) []byte { return []byte(sum + "  " + name + "\n") }

// ParseSidecar returns the checksum in a .sha256 sidecar, which must name
// the file name (the dump's base name).
func ParseSidecar(data []byte, name string) (string, error) {
	line, ok := strings.CutSuffix(string(data), "\n")
	if !ok || strings.Contains(line, "\n") {
		return "", errors.New("sha256 sidecar: not one line")
	}
	sum, file, ok := strings.Cut(line, "  ")
	if !ok {
		return "", errors.New(`sha256 sidecar: not "<sha256>  <file>"`)
	}
	if !isSHA256(sum) {
		return "", errors.New("sha256 sidecar: not 64 lower-case hex digits")
	}
	if file != name {
		return "", fmt.Errorf("sha256 sidecar: names %q, not %q", file, name)
	}
	return sum, nil
}
