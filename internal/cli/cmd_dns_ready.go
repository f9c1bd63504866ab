package cli

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
)

type dnsReadyOptions struct {
	configPath string
	override   string
	json       bool
	timeout    time.Duration
}

func newDNSReadyCommand(app *App) *cobra.Command {
	var o dnsReadyOptions
	cmd := &cobra.Command{
		Use:   "ready [JOB] [--config FILE] [--override REASON] [--json]",
		Short: "The readiness gate: every DNS server answers and holds the same zones, serials and records",
		Long: `Check every server of a dns-ready job (JOB, or the only one): its API or
health endpoint answers, it answers DNS queries for each zone (the SOA, on
its dns address), it serves the same set of zones as the others, and each
zone has the same SOA serial and the same records, compared by a
fingerprint of the records (not a count). Servers are compared with the
first one listed. An unreachable server is a failure, never "equal".

--override REASON passes a failing gate, for emergencies: the findings are
still printed, and the reason is recorded in the result as an "override"
finding and in the log.`,
		Example: `  labops dns ready --config /etc/labops/labops.yaml
  labops dns ready dns-gate --json
  labops dns ready --override "tertiary is being rebuilt, INC-1234"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.StringVar(&o.override, "override", "", "pass a failing gate, recording this reason")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long (exit 3)")
	return cmd
}

func (o *dnsReadyOptions) run(cmd *cobra.Command, app *App, args []string) error {
	if cmd.Flags().Changed("override") && strings.TrimSpace(o.override) == "" {
		return usageErrorf(cmd, "--override needs a reason")
	}
	j, err := app.jobOfKind(cmd, o.configPath, "dns-ready", args)
	if err != nil {
		return err
	}
	var spec dnssync.ReadySpec
	if err := config.DecodeSpec(&j.Spec, &spec); err != nil {
		return specError(cmd, j, err)
	}
	ro, err := spec.Options(strings.TrimSpace(o.override))
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	ro.Logger = app.Logger.With("job", j.Name)
	rep := dnssync.Ready(ctx, ro)
	if ro.Override != "" && !rep.Ready {
		app.Logger.Warn("dns ready gate overridden", "job", j.Name, "reason", ro.Override, "findings", len(rep.Findings))
	}
	if err := ctx.Err(); err != nil && !rep.Ready {
		rep.WriteText(app.Stdout)
		return &ExitError{Code: ExitIncomplete, Err: err}
	}
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
