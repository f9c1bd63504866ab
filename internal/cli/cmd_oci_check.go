package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/oci"
)

type ociCheckOptions struct {
	ociFlags
	repos    []string
	pageSize int
}

func newOCICheckCommand(app *App) *cobra.Command {
	var o ociCheckOptions
	cmd := &cobra.Command{
		Use:   "check REGISTRY",
		Short: "Check that every tag of every repository can be pulled whole",
		Long: `Walk a registry: the catalog (or --repo), every repository's tags, each tag's
manifest (OCI and Docker v2 types), every child of an index, and the config
and every layer of every manifest. Each distinct manifest and blob is checked
once per repository. A blob is proven with a one-byte ranged GET, because
registry:2 answers HEAD 200 for a blob whose data is gone.

REGISTRY is host[:port], https://host or http://host:port (plain HTTP).
Credentials come from --username/--password-file, else the Docker config
file ($DOCKER_CONFIG/config.json or ~/.docker/config.json), else none.

The report lists each broken image (repository, tag, manifest digest) with
every missing or corrupt piece, then a summary. It is "incomplete" (exit 3)
when anything could not be seen: catalog refused, registry unreachable,
repeated server errors, timeout. An incomplete check never says healthy.`,
		Example: `  labops oci check registry.example.org
  labops oci check http://127.0.0.1:5000 --repo app --repo base
  labops oci check localhost:5000 --plain-http --depth manifests
  labops oci check registry.example.org --verify-digests --json > report.json
  labops oci check registry.example.org --username ci --password-file /run/secrets/reg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0]) },
	}
	o.register(cmd.Flags())
	cmd.Flags().StringArrayVar(&o.repos, "repo", nil, "check only this repository (repeatable; default: every repository in the catalog)")
	cmd.Flags().IntVar(&o.pageSize, "page-size", oci.DefaultPageSize, "entries per catalog and tag list page (n=)")
	return cmd
}

func (o *ociCheckOptions) run(cmd *cobra.Command, app *App, addr string) error {
	depth, err := o.validate(cmd)
	if err != nil {
		return err
	}
	if o.pageSize < 1 {
		return usageErrorf(cmd, "--page-size %d: valid is 1 or more", o.pageSize)
	}
	reg, err := oci.ParseRegistry(addr, o.plainHTTP)
	if err != nil {
		return usageErrorf(cmd, "REGISTRY: %v", err)
	}
	for _, r := range o.repos {
		if !oci.ValidRepo(r) {
			return usageErrorf(cmd, "--repo %q: not a repository name (lower case letters, digits, separators . _ - and /)", r)
		}
	}
	c, err := o.client(cmd, app, reg)
	if err != nil {
		return err
	}
	opts := oci.CheckOptions{Repos: o.repos, Depth: depth, VerifyDigests: o.verifyDigests, PageSize: o.pageSize}
	return o.ociFlags.run(cmd, app, func(ctx context.Context, opts oci.CheckOptions) *oci.Report {
		return oci.Check(ctx, c, opts)
	}, opts)
}
