package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/oci"
)

type ociVerifyOptions struct {
	ociFlags
}

func newOCIVerifyCommand(app *App) *cobra.Command {
	var o ociVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify REF",
		Short: "Check that one image can be pulled whole",
		Long: `Check one image as deeply as oci check does: its manifest or index, every
child manifest, config and layer. Run it in CI right after a push.

REF is host[:port]/repository[:tag][@digest], optionally prefixed with
http:// (plain HTTP) or https://. Without tag or digest the tag is latest.
A tag that does not exist is a broken image (exit 1).`,
		Example: `  labops oci verify registry.example.org/app:1.4.2
  labops oci verify http://127.0.0.1:5000/app@sha256:0123...
  labops oci verify localhost:5000/ci/builder:main --plain-http --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0]) },
	}
	o.register(cmd.Flags())
	return cmd
}

func (o *ociVerifyOptions) run(cmd *cobra.Command, app *App, s string) error {
	depth, err := o.validate(cmd)
	if err != nil {
		return err
	}
	ref, err := oci.ParseReference(s, o.plainHTTP)
	if err != nil {
		return usageErrorf(cmd, "REF: %v", err)
	}
	c, err := o.client(cmd, app, ref.Registry)
	if err != nil {
		return err
	}
	opts := oci.CheckOptions{Depth: depth, VerifyDigests: o.verifyDigests}
	return o.ociFlags.run(cmd, app, func(ctx context.Context, opts oci.CheckOptions) *oci.Report {
		return oci.CheckReference(ctx, c, ref, opts)
	}, opts)
}
