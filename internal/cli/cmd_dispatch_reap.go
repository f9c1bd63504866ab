package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/dispatch"
	"github.com/labops/labops/internal/job"
)

type dispatchReapOptions struct {
	configPath string
	suspend    bool
	staleAfter time.Duration
	json       bool
	timeout    time.Duration
}

func newDispatchReapCommand(app *App) *cobra.Command {
	var o dispatchReapOptions
	cmd := &cobra.Command{
		Use:   "reap [JOB] [--config FILE] [--stale-after 30m] [--json]",
		Short: "Block the agent's in-progress issues that show no progress, with a note",
		Long: `One pass of a dispatch-reap job (JOB, or the only one): unless the kill switch
is on, every in-progress queue issue held by the agent whose last sign of
life is older than stale_after (default 30m) is re-read, and if it is still
the same, set to blocked with the comment "reaper: no progress for Nm —
blocking". An issue closed, reassigned or updated meanwhile is left alone.

The last sign of life is what the agent service (the spec's agent.url, if
given) reports in /health as its running job's last_activity, and the
issue's updated_at when it reports nothing for that issue or cannot be
asked.`,
		Example: `  labops dispatch reap --config /etc/labops/labops.yaml
  labops dispatch reap --stale-after 1h --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.BoolVar(&o.suspend, "suspend", false, "the kill switch: do nothing and say so")
	f.DurationVar(&o.staleAfter, "stale-after", 0, "override the job's stale_after")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long (exit 3)")
	return cmd
}

func (o *dispatchReapOptions) run(cmd *cobra.Command, app *App, args []string) error {
	if cmd.Flags().Changed("stale-after") && o.staleAfter <= 0 {
		return usageErrorf(cmd, "--stale-after must be positive")
	}
	name, spec, err := app.dispatchSpec(cmd, o.configPath, "dispatch-reap", args)
	if err != nil {
		return err
	}
	spec.Suspended = spec.Suspended || o.suspend
	if o.staleAfter > 0 {
		spec.StaleAfter = o.staleAfter.String()
	}
	r, err := spec.Reaper()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: config.Prefixed("job "+name+": spec", err)}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	r.Logger = app.Logger.With("job", name)
	rep := r.Run(ctx)
	res := rep.Result()
	text := func(w io.Writer) { writeReapText(w, rep) }
	return app.printReport(textAndJSON{rep, text}, o.json, res.Status, "the reaper pass is incomplete", res.Error)
}

func writeReapText(w io.Writer, r *dispatch.ReapReport) {
	if r.Suspended != "" {
		fmt.Fprintf(w, "suspended: %s; nothing reaped\n", r.Suspended)
		return
	}
	if r.Error != "" {
		fmt.Fprintf(w, "incomplete: %s\n", r.Error)
	}
	for _, x := range r.Reaped {
		fmt.Fprintf(w, "blocked %s: no progress for %dm\n", x.Issue, x.Minutes)
	}
	for _, f := range append(append([]job.Finding{}, r.Failed...), r.Skipped...) {
		fmt.Fprintf(w, "%s %s: %s\n", f.Kind, f.Subject, f.Message)
	}
	fmt.Fprintf(w, "%d reaped, %d failed, %d left alone\n", len(r.Reaped), len(r.Failed), len(r.Skipped))
}
