package cli

import (
	"context"
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
)

type dnsSyncOptions struct {
	configPath string
	apply      bool
	force      bool
	json       bool
	timeout    time.Duration
}

func newDNSSyncCommand(app *App) *cobra.Command {
	var o dnsSyncOptions
	cmd := &cobra.Command{
		Use:   "sync [JOB] [--config FILE] [--apply] [--force] [--json]",
		Short: "Plan, and with --apply make, the target servers hold the source's zones and records",
		Long: `Read every zone in scope from the source server and from each target, and
plan what makes each target equal: zones to create (or, with prune_zones,
remove), records to add, change or delete. The SOA is copied too, so that
the serials agree. Print the plan; with --apply carry it out and plan again
to prove the targets equal. Without --apply nothing is changed, and a plan
that is not empty exits 1.

Servers, zones and rules come from a dns-sync job in the config file (JOB,
or the only dns-sync job). Records another writer owns on the targets
(owned_elsewhere: name globs such as "*.dhcp.example.org.", or whole zones)
are never deleted.

The brake, as octoDNS's: when a plan changes or deletes more than
max_change_share (default 0.3) of the records of a zone that has at least
min_existing_records (default 10), or removes such a zone, nothing is
changed anywhere (exit 1) unless --force.

Every error from any server fails the run: one that cannot be read exits 3
with nothing changed; one that rejects a change exits 1.`,
		Example: `  labops dns sync --config /etc/labops/labops.yaml
  labops dns sync dns-secondaries --apply
  labops dns sync --json | jq '.targets[].zones[] | select(.action != "in-sync")'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.BoolVar(&o.apply, "apply", false, "carry the plan out (default: dry run)")
	f.BoolVar(&o.force, "force", false, "release the change brake")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long (exit 3)")
	return cmd
}

func (o *dnsSyncOptions) run(cmd *cobra.Command, app *App, args []string) error {
	j, err := app.jobOfKind(cmd, o.configPath, "dns-sync", args)
	if err != nil {
		return err
	}
	var spec dnssync.SyncSpec
	if err := config.DecodeSpec(&j.Spec, &spec); err != nil {
		return specError(cmd, j, err)
	}
	so, err := spec.Options(o.apply, o.force)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	so.Logger = app.Logger.With("job", j.Name)
	rep := dnssync.Sync(ctx, so)
	if o.json {
		enc := json.NewEncoder(app.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(app.Stdout)
	}
	return exitWith(job.ExitCode(rep.Status))
}
