package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/backup"
	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

type backupVerifyOptions struct {
	configPath string
	json       bool
	timeout    time.Duration
}

func newBackupVerifyCommand(app *App) *cobra.Command {
	var o backupVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify [JOB] [--config FILE] [--json]",
		Short: "Restore the newest dump of each database into a scratch database and check it",
		Long: `For every database with dumps under the job's root, check the newest dump
against its sha256 sidecar, restore it into a scratch database (named
spec.verify.scratch_prefix + random) on the server it came from, check that
the restore tool exits clean and that every table has the rows the manifest
recorded at dump time, and that each of spec.verify.sentinels (a query
returning one integer, at least min) holds in the restored copy, then drop
the scratch database. A database with no complete dump is a failure.`,
		Example: `  labops backup verify --config /etc/labops/labops.yaml --json`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, spec, err := app.backupSpec(cmd, o.configPath, args)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			rep := backup.Verify(ctx, backup.Options{Spec: spec, Logger: app.Logger.With("job", j.Name)})
			if o.json {
				return writeBackupJSON(app.Stdout, rep, rep.Status)
			}
			for _, d := range rep.Databases {
				if d.Verified {
					fmt.Fprintf(app.Stdout, "verified  %s/%s  %s\n", d.Server, d.Database, d.Path)
				} else {
					fmt.Fprintf(app.Stdout, "FAILED    %s/%s  %s\n", d.Server, d.Database, strings.Join(d.Problems, "; "))
				}
			}
			for _, f := range rep.Findings {
				if f.Kind != "verify-failed" {
					fmt.Fprintf(app.Stdout, "%s %s: %s\n", f.Kind, f.Subject, f.Message)
				}
			}
			fmt.Fprintf(app.Stdout, "%s: %d databases\n", rep.Status, len(rep.Databases))
			return exitWith(job.ExitCode(rep.Status))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 6*time.Hour, "give up after this long (exit 3)")
	return cmd
}
