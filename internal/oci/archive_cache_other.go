//go:build !linux

package oci

import "os"

// dropCache is a no-op where posix_fadvise is not at hand.
func dropCache(*os.File) {}
