// Package atomicfile replaces small files whole or not at all: what a
// crash, a full disk or a kill mid-write leaves is the old file or the new
// one, never half of one. Backups' manifests and checksums, archives'
// sidecars and the secret-sync state all go through it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data (mode 0600): a temp file in the same
// directory named "."+base+".tmp-*" (so cleanups can tell it), written,
// fsynced and renamed over path, then the directory synced so the rename
// survives a crash. On failure the temp file is removed and path is as it
// was.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the renames and removals done in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
