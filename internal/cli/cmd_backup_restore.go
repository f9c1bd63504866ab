package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/backup"
	"github.com/labops/labops/internal/config"
)

type backupRestoreOptions struct {
	configPath string
	job        string
	server     string
	to         string
	timeout    time.Duration
}

func newBackupRestoreCommand(app *App) *cobra.Command {
	var o backupRestoreOptions
	cmd := &cobra.Command{
		Use:   "restore DB --to NAME [--server SERVER] [--job JOB] [--config FILE]",
		Short: "Restore the newest dump of a database into a new database",
		Long: `Check the newest dump of DB against its sha256 sidecar and restore it into
the new database NAME on the server it came from (--server when the job has
more than one). NAME must not exist: restore never writes into an existing
database.`,
		Example: `  labops backup restore shop --to shop_restored --server pg`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(o.to) == "" {
				return usageErrorf(cmd, "--to NAME is required: the new database to restore into")
			}
			var jargs []string
			if o.job != "" {
				jargs = []string{o.job}
			}
			j, spec, err := app.backupSpec(cmd, o.configPath, jargs)
			if err != nil {
				return err
			}
			server := o.server
			if server == "" {
				if len(spec.Servers) != 1 {
					return usageErrorf(cmd, "job %s has %d servers: name one with --server", j.Name, len(spec.Servers))
				}
				server = spec.Servers[0].Name
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			d, err := backup.RestoreDB(ctx, backup.Options{Spec: spec, Logger: app.Logger.With("job", j.Name)}, server, args[0], o.to)
			if err != nil {
				return &ExitError{Code: ExitFailed, Err: err}
			}
			fmt.Fprintf(app.Stdout, "restored %s into %s/%s\n", d.Path, server, o.to)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.StringVar(&o.job, "job", "", "the backup job (default: the only one)")
	f.StringVar(&o.server, "server", "", "the server the dump came from (default: the job's only server)")
	f.StringVar(&o.to, "to", "", "the new database to restore into")
	f.DurationVar(&o.timeout, "timeout", 6*time.Hour, "give up after this long (exit 3)")
	return cmd
}
