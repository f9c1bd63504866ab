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

type dnsTSIGCheckOptions struct {
	configPath string
	json       bool
	timeout    time.Duration
}

func newDNSTSIGCheckCommand(app *App) *cobra.Command {
	var o dnsTSIGCheckOptions
	cmd := &cobra.Command{
		Use:   "tsigcheck [JOB] [--config FILE] [--json]",
		Short: "Prove each zone accepts signed updates and refuses unsigned or wrongly signed ones",
		Long: `For each zone of each server of a dns-tsigcheck job (JOB, or the only one):
send an RFC 2136 update adding a throwaway TXT record
(_labops-tsigcheck-<random>.<zone>) signed with the zone's TSIG key, which
must be accepted, and removed again; then the same update unsigned, and
signed with a wrong secret under the same key name, which must both be
refused. A refused signed update, or an accepted unsigned or wrongly
signed one, is a finding (exit 1); a server that cannot be reached exits 3.
Key secrets come only from files (tsig.secret_file).`,
		Example: `  labops dns tsigcheck --config /etc/labops/labops.yaml`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := app.jobOfKind(cmd, o.configPath, "dns-tsigcheck", args)
			if err != nil {
				return err
			}
			var spec dnssync.TSIGCheckSpec
			if err := config.DecodeSpec(&j.Spec, &spec); err != nil {
				return specError(cmd, j, err)
			}
			targets, timeout, err := spec.Targets()
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			rep := dnssync.TSIGCheck(ctx, targets, timeout, nil)
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
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long (exit 3)")
	return cmd
}
