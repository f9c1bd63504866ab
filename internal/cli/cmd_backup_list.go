package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/backup"
	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

type backupListOptions struct {
	configPath string
	json       bool
}

type backupListEntry struct {
	Server   string            `json:"server"`
	Database string            `json:"database"`
	Dumps    []backup.DumpFile `json:"dumps"`
}

func newBackupListCommand(app *App) *cobra.Command {
	var o backupListOptions
	cmd := &cobra.Command{
		Use:   "list [JOB] [--config FILE] [--json]",
		Short: "Show the complete dumps of each database, with age and size",
		Long: `List, per server and database, the complete dumps under the job's root
(a dump with its sidecar and manifest), oldest first, with age and size.
Temp files of running or failed dumps are not listed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, spec, err := app.backupSpec(cmd, o.configPath, args)
			if err != nil {
				return err
			}
			var out []backupListEntry
			for _, sv := range spec.Servers {
				dbs, err := backup.Databases(spec.Root, sv.Name)
				if err != nil {
					return &ExitError{Code: ExitIncomplete, Err: err}
				}
				for _, db := range dbs {
					d, err := backup.ListDumps(backup.Dir(spec.Root, sv.Name, db))
					if err != nil {
						return &ExitError{Code: ExitIncomplete, Err: err}
					}
					out = append(out, backupListEntry{Server: sv.Name, Database: db, Dumps: d})
				}
			}
			if o.json {
				return writeBackupJSON(app.Stdout, out, job.StatusOK)
			}
			now := time.Now()
			for _, e := range out {
				fmt.Fprintf(app.Stdout, "%s/%s: %d dumps\n", e.Server, e.Database, len(e.Dumps))
				for _, d := range e.Dumps {
					fmt.Fprintf(app.Stdout, "  %s  %8s old  %12d bytes  %s\n", d.Time.Format(time.RFC3339), now.Sub(d.Time).Round(time.Minute), d.Size, d.Path)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.BoolVar(&o.json, "json", false, "print the list as JSON")
	return cmd
}
