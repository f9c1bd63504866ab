package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/backup"
	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

func newBackupCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Per-database dumps of PostgreSQL and MySQL/MariaDB, kept by retention, proven restorable",
		Long: `Dump every database of the servers of a backup job, one file per database
under <root>/<server>/<database>/<timestamp>.<ext> with a sha256 sidecar and a
JSON manifest; keep them by a last/daily/weekly/monthly retention; restore the
newest of each into a scratch database to prove it restores.

The commands read a job of kind backup (or backup-verify) from the config:

  jobs:
    - name: db-backup
      kind: backup
      schedule: "15 2 * * *"
      spec:
        root: /backup/per-db
        parallel: 2
        servers:
          - {name: pg, type: postgres, host: 127.0.0.1, user: postgres,
             password_file: /run/secrets/pg, exclude: ["scratch_*"]}
          - {name: maria, type: mysql, host: 127.0.0.1, user: backup,
             password_file: /run/secrets/maria}
        retention: {last: 3, daily: 7, weekly: 4, monthly: 6, prune: true}`,
	}
	cmd.AddCommand(newBackupRunCommand(app), newBackupVerifyCommand(app), newBackupListCommand(app), newBackupRestoreCommand(app))
	return cmd
}

// backupSpec finds the backup (or backup-verify) job named in args, or the
// only one, and decodes its spec.
func (app *App) backupSpec(cmd *cobra.Command, configPath string, args []string) (*config.Job, backup.Spec, error) {
	var spec backup.Spec
	kind := "backup"
	if len(args) == 0 {
		if _, err := app.jobOfKind(cmd, configPath, kind, nil); err != nil {
			if j, err2 := app.jobOfKind(cmd, configPath, "backup-verify", nil); err2 == nil {
				return decodeBackup(cmd, j)
			}
			return nil, spec, err
		}
	} else if f, _, err := app.loadConfig(cmd, configPath, true); err == nil {
		if j, ok := f.Find(args[0]); ok && j.Kind == "backup-verify" {
			kind = "backup-verify"
		}
	}
	j, err := app.jobOfKind(cmd, configPath, kind, args)
	if err != nil {
		return nil, spec, err
	}
	return decodeBackup(cmd, j)
}

func decodeBackup(cmd *cobra.Command, j *config.Job) (*config.Job, backup.Spec, error) {
	var spec backup.Spec
	if err := config.DecodeSpec(&j.Spec, &spec); err != nil {
		return nil, spec, specError(cmd, j, err)
	}
	if err := spec.Validate(); err != nil {
		return nil, spec, specError(cmd, j, err)
	}
	return j, spec, nil
}

type backupRunOptions struct {
	configPath string
	apply      bool
	json       bool
	timeout    time.Duration
}

func newBackupRunCommand(app *App) *cobra.Command {
	var o backupRunOptions
	cmd := &cobra.Command{
		Use:   "run [JOB] [--config FILE] [--apply] [--json]",
		Short: "Dump every selected database, check each dump's checksum, and plan retention",
		Long: `Dump each selected database of every server of the backup job (JOB, or the
only one), at most spec.parallel at a time: pg_dump -Fc for PostgreSQL, the
server's own dump tool with --single-transaction for MySQL and MariaDB. Each
dump goes through a temp file, fsync and rename, beside a sha256 sidecar and
a manifest with the row count of every table at dump time.

After a database's new dump reads back against its checksum, the retention
plan for that database is printed; --apply deletes what it does not keep
(the scheduled job applies it when spec.retention.prune is true). A failed
dump never replaces or deletes an earlier one; a database that fails is a
finding and the others still run.`,
		Example: `  labops backup run --config /etc/labops/labops.yaml
  labops backup run db-backup --apply --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, spec, err := app.backupSpec(cmd, o.configPath, args)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			rep := backup.Run(ctx, backup.Options{Spec: spec, Prune: o.apply, Logger: app.Logger.With("job", j.Name)})
			if o.json {
				return writeBackupJSON(app.Stdout, rep, rep.Status)
			}
			writeBackupRun(app.Stdout, rep, o.apply)
			return exitWith(job.ExitCode(rep.Status))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.BoolVar(&o.apply, "apply", false, "delete the dumps the retention plan does not keep")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 6*time.Hour, "give up after this long (exit 3)")
	return cmd
}

func writeBackupJSON(w io.Writer, v any, st job.Status) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return exitWith(job.ExitCode(st))
}

func writeBackupRun(w io.Writer, rep backup.RunReport, applied bool) {
	for _, d := range rep.Databases {
		if d.Error != "" {
			fmt.Fprintf(w, "FAILED  %s/%s: %s\n", d.Server, d.Database, d.Error)
			continue
		}
		fmt.Fprintf(w, "ok      %s/%s  %s  %d bytes  %d tables  %.1fs\n", d.Server, d.Database, d.Path, d.Size, d.Tables, d.Duration)
		if d.Plan == nil {
			continue
		}
		for _, del := range d.Plan.Delete {
			verb := "would delete"
			if applied {
				verb = "deleted"
			}
			fmt.Fprintf(w, "        %s %s\n", verb, del.Path)
		}
		if d.PruneError != "" {
			fmt.Fprintf(w, "        prune failed: %s\n", d.PruneError)
		}
	}
	for _, f := range rep.Findings {
		if f.Kind != "dump-failed" {
			fmt.Fprintf(w, "%s %s: %s\n", f.Kind, f.Subject, f.Message)
		}
	}
	fmt.Fprintf(w, "%s: %d databases\n", rep.Status, len(rep.Databases))
}
