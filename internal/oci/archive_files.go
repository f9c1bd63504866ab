package oci

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labops/labops/internal/atomicfile"
)

// The files of an archive directory. Each archive is
//
//	<repo with / as ->_<UTC time>_<first 12 hex of the digest>.tar.gz
//	<that name>.sha256     its sha256sum line
//
// and latest is a symlink to the newest. labops only ever deletes a file
// that matches this pattern for the repository it archives AND whose gzip
// header says labops wrote it for that repository: "a/b" and "a-b" share
// a file name prefix, but not a header.

const (
	archiveTimeLayout = "20060102T150405Z"
	archiveExt        = ".tar.gz"
	sidecarExt        = ".sha256"
	// LatestLink is the name of the symlink to the newest archive.
	LatestLink = "latest"
)

var archiveNameRe = regexp.MustCompile(`^(.+)_([0-9]{8}T[0-9]{6}Z)_([0-9a-f]{12})\.tar\.gz$`)

// archivePrefix is the repository as it starts an archive's name.
func archivePrefix(repo string) string { return strings.ReplaceAll(repo, "/", "-") }

// archiveName names the archive of repo's image digest read at t.
func archiveName(repo string, t time.Time, digest string) string {
	_, enc, _ := strings.Cut(digest, ":")
	if len(enc) > 12 {
		enc = enc[:12]
	}
	return archivePrefix(repo) + "_" + t.UTC().Format(archiveTimeLayout) + "_" + enc + archiveExt
}

// archiveComment is the gzip header comment that marks an archive as
// labops' own, for repo.
func archiveComment(repo, tag, digest string) string {
	return "labops oci archive: repository=" + repo + " tag=" + tag + " digest=" + digest
}

func ownedBy(comment, repo string) bool {
	return strings.HasPrefix(comment, "labops oci archive: repository="+repo+" ")
}

// archiveFile is one of a repository's archives in the directory.
type archiveFile struct {
	Name string
	Time time.Time
	Size int64
}

// listArchives returns repo's archives in dir, oldest first: the files
// named like one whose gzip header proves labops wrote them for repo.
func listArchives(dir, repo string) ([]archiveFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing archives: %w", err)
	}
	prefix := archivePrefix(repo)
	var out []archiveFile
	for _, e := range entries {
		m := archiveNameRe.FindStringSubmatch(e.Name())
		if m == nil || m[1] != prefix || !e.Type().IsRegular() {
			continue
		}
		t, err := time.Parse(archiveTimeLayout, m[2])
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if c, err := gzipComment(filepath.Join(dir, e.Name())); err != nil || !ownedBy(c, repo) {
			continue
		}
		out = append(out, archiveFile{Name: e.Name(), Time: t, Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b archiveFile) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// gzipComment reads the comment of a gzip file's header (and nothing more).
func gzipComment(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 4096))
	if err != nil {
		return "", err
	}
	return zr.Comment, nil
}

// latestTarget returns the file name latest points to in dir, or "".
func latestTarget(dir string) string {
	t, err := os.Readlink(filepath.Join(dir, LatestLink))
	if err != nil {
		return ""
	}
	if filepath.Dir(t) == dir || filepath.Dir(t) == "." {
		return filepath.Base(t)
	}
	return t
}

// pruneArchives deletes repo's oldest archives beyond keep, with their
// sidecars, never the one latest points to nor keepName (the one just
// written). It returns the names deleted and how many archives remain.
func pruneArchives(dir, repo string, keep int, keepName string) (pruned []string, remaining int, err error) {
	files, err := listArchives(dir, repo)
	if err != nil {
		return nil, 0, err
	}
	latest := latestTarget(dir)
	excess := len(files) - keep
	var errs []error
	for _, f := range files {
		if excess <= 0 {
			break
		}
		if f.Name == latest || f.Name == keepName {
			continue
		}
		p := filepath.Join(dir, f.Name)
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("pruning %s: %w", f.Name, err))
			continue
		}
		if err := os.Remove(p + sidecarExt); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("pruning %s: %w", f.Name+sidecarExt, err))
		}
		pruned = append(pruned, f.Name)
		excess--
	}
	if len(pruned) > 0 {
		if err := atomicfile.SyncDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return pruned, len(files) - len(pruned), errors.Join(errs...)
}

// staleTempAge is how old a temp file of a repository's archive must be
// before a later run deletes it: it was left by a run that was killed
// (a CronJob past its deadline), and it may be gigabytes.
const staleTempAge = 24 * time.Hour

// removeStaleTemps deletes repo's archive temp files in dir older than
// staleTempAge whose gzip header proves them labops' for repo, and
// returns their names.
func removeStaleTemps(dir, repo string, now time.Time) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		base, _, ok := strings.Cut(strings.TrimPrefix(e.Name(), "."), archiveExt+".tmp-")
		if !ok || !strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		if m := archiveNameRe.FindStringSubmatch(base + archiveExt); m == nil || m[1] != archivePrefix(repo) {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleTempAge {
			continue
		}
		if c, err := gzipComment(filepath.Join(dir, e.Name())); err != nil || !ownedBy(c, repo) {
			continue // not provably ours (a/b and a-b share the name prefix)
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}

// pointLatest makes dir/latest a symlink to name, atomically: a new
// symlink under a temp name, renamed over the old one.
func pointLatest(dir, name string) error {
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%d", LatestLink, time.Now().UnixNano()))
	if err := os.Symlink(name, tmp); err != nil {
		return fmt.Errorf("updating %s: %w", LatestLink, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, LatestLink)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("updating %s: %w", LatestLink, err)
	}
	return atomicfile.SyncDir(dir)
}

// writeSidecar writes dir/side, the sha256sum line of the archive name.
func writeSidecar(dir, side, sum, name string) error {
	if err := atomicfile.Write(filepath.Join(dir, side), []byte(sidecarLine(sum, name))); err != nil {
		return fmt.Errorf("writing %s: %w", side, err)
	}
	return nil
}

// sidecarLine is the sha256sum line of an archive.
func sidecarLine(hexSum, name string) string { return hexSum + "  " + name + "\n" }

// readSidecar reads a sha256sum file and returns the sum it holds for
// name (or its only sum).
func readSidecar(path, name string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(b) > 64<<10 {
		return "", fmt.Errorf("%s: not a sha256sum file (%d bytes)", path, len(b))
	}
	var sums []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, file, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || len(sum) != 64 || !isLowerHex(strings.ToLower(sum)) {
			return "", fmt.Errorf("%s: not a sha256sum line: %q", path, line)
		}
		file = strings.TrimPrefix(strings.TrimLeft(file, " "), "*")
		if file == name {
			return strings.ToLower(sum), nil
		}
		sums = append(sums, strings.ToLower(sum))
	}
	if len(sums) == 1 {
		return sums[0], nil
	}
	return "", fmt.Errorf("%s: no sum for %s", path, name)
}
