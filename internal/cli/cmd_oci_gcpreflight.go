package cli

import (
	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/oci"
)

type ociGCPreflightOptions struct {
	deleteUntagged bool
	registryBin    string
	json           bool
	workers        int
}

func newOCIGCPreflightCommand(app *App) *cobra.Command {
	var o ociGCPreflightOptions
	cmd := &cobra.Command{
		Use:   "gc-preflight CONFIG",
		Short: "Refuse a registry:2 garbage collection that would break a tagged image",
		Long: `Run the registry's own "garbage-collect --dry-run" with the flags you intend,
read what it would delete, scan the storage CONFIG names
(storage.filesystem.rootdirectory, or $REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY
as the registry itself honours) to learn what every tag reaches, and refuse
(exit 1) when anything a tag reaches is on the collector's list, naming each
image repo:tag and the digests it would lose. When the collection is safe
(exit 0) it prints how much it would free.

Use it as the gate of the collection job, with the registry stopped or
read-only (a collection while pushes land can lose a just-pushed image):

  labops oci gc-preflight /etc/docker/registry/config.yml && \
    docker-registry garbage-collect /etc/docker/registry/config.yml

On distribution 2.8, --delete-untagged lists the untagged children of
tagged multi-platform indexes and deletes them: every such image breaks.
The preflight refuses exactly that. CONFIG is read for its storage section
only; the collector's output is parsed strictly, and output labops does
not recognise gives no verdict (exit 3).`,
		Example: `  labops oci gc-preflight /etc/docker/registry/config.yml
  labops oci gc-preflight /etc/docker/registry/config.yml --delete-untagged --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0]) },
	}
	cmd.Flags().BoolVar(&o.deleteUntagged, "delete-untagged", false, "judge garbage-collect --delete-untagged (deletes manifests no tag points at directly)")
	cmd.Flags().StringVar(&o.registryBin, "registry-bin", "", "the registry binary (default: docker-registry, else registry, from PATH)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the verdict as JSON")
	cmd.Flags().IntVar(&o.workers, "workers", oci.DefaultScanWorkers(), "directories and files the storage scan reads in parallel (1-256)")
	return cmd
}

func (o *ociGCPreflightOptions) run(cmd *cobra.Command, app *App, config string) error {
	if o.workers < 1 || o.workers > 256 {
		return usageErrorf(cmd, "--workers %d: valid is 1 to 256", o.workers)
	}
	var flags []string
	if o.deleteUntagged {
		flags = append(flags, "--delete-untagged")
	}
	rep, err := oci.GCPreflight(cmd.Context(), config, oci.GCPreflightOptions{
		Flags:       flags,
		RegistryBin: o.registryBin,
		Scan:        oci.ScanOptions{Workers: o.workers, Logger: app.Logger},
		Getenv:      app.Getenv,
		Logger:      app.Logger,
	})
	if err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	return app.printReport(rep, o.json, rep.Status, "no verdict", rep.Error)
}
