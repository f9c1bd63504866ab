package cli

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/oci"
)

type ociScanOptions struct {
	json        bool
	workers     int
	staleUpload time.Duration
}

func newOCIScanCommand(app *App) *cobra.Command {
	var o ociScanOptions
	cmd := &cobra.Command{
		Use:   "scan STORAGE_ROOT",
		Short: "Check registry:2 filesystem storage offline: broken images, dangling links, reclaimable space",
		Long: `Read a registry:2 (distribution) filesystem storage tree directly, without the
registry running and without writing to it, and report:

  - tags whose manifest is gone, and every image (indexes included) whose
    child manifests, config or layers are missing from blobs/ or not linked
    in the repository; each broken image names exactly which layers it lost,
    which an API walk cannot (child manifests often survive their layers)
  - revision and layer links that point at missing blob data
  - manifests that do not parse (garbage-collect stops at them)
  - blobs no tag reaches, with the bytes they hold, and how much of that a
    plain garbage-collect frees
  - uploads under _uploads that were started and never finished

STORAGE_ROOT is the registry's storage.filesystem.rootdirectory (the
directory that holds docker/registry/v2). The walk is parallel (--workers)
and goes through os.Root: no symbolic link or ".." leads outside the root;
a symbolic link is reported and never followed.

The status is failed (exit 1) for a broken image, an unparseable manifest
or a dangling revision link; incomplete (exit 3) when part of the tree
could not be read. Unreachable blobs, stale uploads and the dangling layer
links garbage-collect leaves behind are reported but are not failures.`,
		Example: `  labops oci scan /var/lib/registry
  labops oci scan /var/lib/registry --json > scan.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0]) },
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&o.workers, "workers", oci.DefaultScanWorkers(), "directories and files read in parallel (1-256)")
	cmd.Flags().DurationVar(&o.staleUpload, "stale-upload", oci.DefaultStaleUpload, "age past which an unfinished upload is stale")
	return cmd
}

func (o *ociScanOptions) run(cmd *cobra.Command, app *App, root string) error {
	if o.workers < 1 || o.workers > 256 {
		return usageErrorf(cmd, "--workers %d: valid is 1 to 256", o.workers)
	}
	if o.staleUpload <= 0 {
		return usageErrorf(cmd, "--stale-upload %v: valid is a positive duration such as 24h", o.staleUpload)
	}
	rep, err := oci.Scan(cmd.Context(), root, oci.ScanOptions{Workers: o.workers, StaleUpload: o.staleUpload, Logger: app.Logger})
	if errors.Is(err, oci.ErrNotStorageRoot) {
		return usageErrorf(cmd, "STORAGE_ROOT: %v", err)
	}
	if err != nil {
		return &ExitError{Code: ExitIncomplete, Err: err}
	}
	return app.printReport(rep, o.json, rep.Status, "the scan is incomplete", rep.Error)
}
