package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/labops/labops/internal/oci"
)

type ociArchiveOptions struct {
	ociFlags
	dir  string
	keep int
}

// registerImageTransferFlags registers what oci archive and oci restore
// take of ociFlags: auth, TLS, time limits and --json.
func registerImageTransferFlags(fs *pflag.FlagSet, f *ociFlags, verb string) {
	fs.DurationVar(&f.timeout, "timeout", 2*time.Hour, "time limit for the whole "+verb+"; when reached it is incomplete (exit 3)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", oci.DefaultRequestTimeout, "time limit for each HTTP request (a blob stream: for each stretch without progress)")
	fs.BoolVar(&f.json, "json", false, "print the outcome as JSON")
	fs.BoolVar(&f.plainHTTP, "plain-http", false, "talk plain HTTP (also implied by an http:// address)")
	fs.StringVar(&f.username, "username", "", "registry username (default: from the Docker config file, else anonymous)")
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the registry password or token (needs --username)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file with extra CA certificates to trust")
}

// validateTransfer fills the ociFlags these commands do not take and
// validates the rest.
func (f *ociFlags) validateTransfer(cmd *cobra.Command) error {
	f.concurrency, f.depth = oci.DefaultConcurrency, string(oci.DepthBlobs)
	_, err := f.validate(cmd)
	return err
}

func newOCIArchiveCommand(app *App) *cobra.Command {
	var o ociArchiveOptions
	cmd := &cobra.Command{
		Use:   "archive REF --dir DIR",
		Short: "Save an image (every platform) as a verified OCI archive tarball",
		Long: `Write the image REF, with every platform of an index, as a gzipped OCI image
layout tarball in DIR: the break-glass copy to restore from when the
registry is gone. skopeo, podman and buildah read it as oci-archive:FILE.

  DIR/<repo>_<UTC time>_<digest, 12 hex>.tar.gz   the archive
  DIR/<that name>.sha256                          its sha256sum line
  DIR/latest                                      symlink to the newest

Every manifest and blob is checked against its digest as it streams from
the registry into a temp file in DIR (never whole in memory). The file is
synced, read back from disk and checked again (layout and every blob's
digest and size); only then are its sidecar and the archive renamed into
place and latest pointed at it, and only then are the repository's archives
beyond --keep deleted, oldest first. Only files named like the
repository's archives whose gzip header says labops wrote them for it are
ever deleted, never the one latest points to.

Any failure (broken source image, unreachable registry, full disk,
read-only DIR) leaves DIR as it was: the temp file is removed and the
previous archives and latest are untouched. A broken source image (a
missing or corrupt manifest or blob) is exit 1; an unreachable registry
or a local I/O error exit 3.

REF is host[:port]/repository:tag, optionally prefixed with http:// or
https://; the tag names the image inside the archive. latest points at the
newest archive written in DIR, of whichever image: give each image its
own DIR.

Importing: labops oci restore ARCHIVE REF, or skopeo copy --all
--preserve-digests oci-archive:FILE docker://REF (the digests stay the
image's own). skopeo 1.9 finds oci-archive:FILE:TAG only for OCI media
types; a Docker manifest list or manifest is found as oci-archive:FILE.`,
		Example: `  labops oci archive registry.example.org/ci/builder:main --dir /srv/break-glass
  labops oci archive http://127.0.0.1:5000/app:1.4 --dir ./archives --keep 3 --json
  skopeo copy --all --preserve-digests oci-archive:/srv/break-glass/latest docker://new-registry/ci/builder:main`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0]) },
	}
	registerImageTransferFlags(cmd.Flags(), &o.ociFlags, "archive")
	cmd.Flags().StringVar(&o.dir, "dir", "", "directory to keep the archives in (required; must exist)")
	cmd.Flags().IntVar(&o.keep, "keep", oci.DefaultArchiveKeep, "archives of the repository to keep, the new one included")
	return cmd
}

func (o *ociArchiveOptions) run(cmd *cobra.Command, app *App, s string) error {
	if err := o.validateTransfer(cmd); err != nil {
		return err
	}
	if o.dir == "" {
		return usageErrorf(cmd, "--dir is required: the directory to keep the archives in")
	}
	if o.keep < 1 {
		return usageErrorf(cmd, "--keep %d: keep at least 1", o.keep)
	}
	ref, err := oci.ParseReference(s, o.plainHTTP)
	if err != nil {
		return usageErrorf(cmd, "REF: %v", err)
	}
	if ref.Tag == "" {
		return usageErrorf(cmd, "REF %q: needs a tag (it names the image in the archive)", s)
	}
	c, err := o.client(cmd, app, ref.Registry)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	res := oci.Archive(ctx, c, ref.Repo, ref.Tag, oci.ArchiveOptions{Dir: o.dir, Keep: o.keep, Logger: app.Logger})
	return app.printReport(res, o.json, res.Status, "the archive is incomplete", res.Error)
}
