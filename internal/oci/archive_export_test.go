package oci

import "io"

// WithArchiveWriter returns opts with the archive file's writer wrapped by
// wrap, for tests that inject write errors.
func WithArchiveWriter(opts ArchiveOptions, wrap func(io.Writer) io.Writer) ArchiveOptions {
	opts.wrap = wrap
	return opts
}
