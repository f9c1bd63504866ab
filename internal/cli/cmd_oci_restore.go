package cli

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/oci"
)

type ociRestoreOptions struct {
	ociFlags
}

func newOCIRestoreCommand(app *App) *cobra.Command {
	var o ociRestoreOptions
	cmd := &cobra.Command{
		Use:   "restore ARCHIVE REF",
		Short: "Push an OCI archive tarball back to a registry, verified",
		Long: `Push the image in ARCHIVE (labops oci archive's .tar.gz, or any OCI image
layout tarball, gzipped or not, such as skopeo's oci-archive) to REF.

The archive is read once. Every blob is hashed as it passes; those the
registry lacks are streamed to it, those it has are skipped. Only after
the whole file matched its sidecar (ARCHIVE.sha256, when there is one) and
the layout proved whole are the manifests pushed, children first and the
tag last: a bad archive never becomes a tag. Then REF is deep-checked as
oci verify does and its digest compared with the archive's.

ARCHIVE may be the latest symlink. When the archive holds several images,
REF's tag picks the one of that name. REF is host[:port]/repository:tag
(or @digest), optionally prefixed with http:// or https://.

A bad archive, or a restored image that is not whole, is exit 1; an
unreachable registry or unreadable file exit 3.`,
		Example: `  labops oci restore /srv/break-glass/latest registry.example.org/ci/builder:main
  labops oci restore app_20261201T142233Z_0123456789ab.tar.gz http://127.0.0.1:5000/app:1.4
  labops oci restore image.tar localhost:5000/app:restored --plain-http --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0], args[1]) },
	}
	registerImageTransferFlags(cmd.Flags(), &o.ociFlags, "restore")
	return cmd
}

func (o *ociRestoreOptions) run(cmd *cobra.Command, app *App, archive, s string) error {
	if err := o.validateTransfer(cmd); err != nil {
		return err
	}
	if st, err := os.Stat(archive); err != nil {
		return usageErrorf(cmd, "ARCHIVE: %v", err)
	} else if !st.Mode().IsRegular() {
		return usageErrorf(cmd, "ARCHIVE %s: not a file", archive)
	}
	ref, err := oci.ParseReference(s, o.plainHTTP)
	if err != nil {
		return usageErrorf(cmd, "REF: %v", err)
	}
	c, err := o.client(cmd, app, ref.Registry)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	res := oci.Restore(ctx, c, archive, ref, oci.RestoreOptions{Logger: app.Logger})
	return app.printReport(res, o.json, res.Status, "the restore is incomplete", res.Error)
}
