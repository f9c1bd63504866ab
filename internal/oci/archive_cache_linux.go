package oci

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCache asks the kernel to forget f's cached pages (f is synced), so
// that reading it back reads what the disk holds, not what was written to
// memory. Best effort: tmpfs, for one, keeps them.
func dropCache(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
