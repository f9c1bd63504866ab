package labtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CacheDir is where scripts/test-deps keeps what it builds or installs
// outside the system's packages: $LABOPS_CACHE, else ~/.cache/labops.
func CacheDir() string {
	if c := os.Getenv("LABOPS_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "labops")
}

// Cached returns the first of $env and CacheDir()/name (joined with rel,
// for a file inside an installed tree) that exists as a file, and the
// places it looked.
func Cached(env, name, rel string) (string, []string) {
	var places []string
	if p := os.Getenv(env); p != "" {
		places = append(places, filepath.Join(p, rel))
	}
	if c := CacheDir(); c != "" {
		places = append(places, filepath.Join(c, name, rel))
	}
	for _, p := range places {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, places
		}
	}
	return "", places
}

// NeedCached returns the executable scripts/test-deps puts in the cache as
// name ($env overrides it), else bin on PATH; else it skips the test (fails
// it under CI=true) saying where it looked and how to get it.
func NeedCached(t testing.TB, env, name, bin, what string) string {
	t.Helper()
	if p, _ := Cached(env, name, ""); p != "" {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return Need(t, bin, what+" (scripts/test-deps puts it at "+filepath.Join(CacheDir(), name)+"; or set "+env+")")
}

// NeedCachedFile is NeedCached for a file inside a tree scripts/test-deps
// installs (an npm package, say): $env/rel or CacheDir()/name/rel.
func NeedCachedFile(t testing.TB, env, name, rel, what string) string {
	t.Helper()
	p, places := Cached(env, name, rel)
	if p != "" {
		return p
	}
	msg := what + " not found in " + strings.Join(places, " or ") + ": run scripts/test-deps, or set " + env
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
