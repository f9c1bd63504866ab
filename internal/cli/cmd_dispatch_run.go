package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/dispatch"
)

type dispatchRunOptions struct {
	configPath string
	suspend    bool
	json       bool
	timeout    time.Duration
}

func newDispatchRunCommand(app *App) *cobra.Command {
	var o dispatchRunOptions
	cmd := &cobra.Command{
		Use:   "run [JOB] [--config FILE] [--json]",
		Short: "One dispatch pass: claim queued issues and post them to the agent service",
		Long: `One pass of a dispatch job (JOB, or the only one): unless the kill switch is
on, ask the agent service how many slots are free (GET /health), claim that
many queued issues, post each (POST /execute, with an idempotency key) and
comment "dispatched: job=<id>". A claim is beads' compare-and-set made with
an actor of this pass and slot, and counts only when a read-back shows it;
a lost claim is counted, not an error. A failed post returns the issue to
open with a comment saying why, so nothing is lost.

Run one dispatcher per tracker; a second one at the same moment only loses
claims.`,
		Example: `  labops dispatch run --config /etc/labops/labops.yaml
  labops dispatch run agent-dispatch --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.BoolVar(&o.suspend, "suspend", false, "the kill switch: do nothing and say so")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long (exit 3)")
	return cmd
}

func (o *dispatchRunOptions) run(cmd *cobra.Command, app *App, args []string) error {
	name, spec, err := app.dispatchSpec(cmd, o.configPath, "dispatch", args)
	if err != nil {
		return err
	}
	spec.Suspended = spec.Suspended || o.suspend
	d, err := spec.Dispatcher()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: config.Prefixed("job "+name+": spec", err)}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	d.Logger = app.Logger.With("job", name)
	rep := d.Run(ctx)
	res := rep.Result()
	text := func(w io.Writer) { writeRunText(w, rep) }
	return app.printReport(textAndJSON{rep, text}, o.json, res.Status, "the dispatch pass is incomplete", res.Error)
}

func writeRunText(w io.Writer, r *dispatch.RunReport) {
	if r.Suspended != "" {
		fmt.Fprintf(w, "suspended: %s; nothing dispatched\n", r.Suspended)
		return
	}
	if r.Error != "" {
		fmt.Fprintf(w, "incomplete: %s\n", r.Error)
	}
	for _, d := range r.Dispatched {
		fmt.Fprintf(w, "dispatched %s as %s: job=%s\n", d.Issue, d.Actor, d.JobID)
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "%s %s: %s\n", f.Kind, f.Subject, f.Message)
	}
	if r.AgentBusy {
		fmt.Fprintln(w, "agent service busy: nothing claimed")
	}
	fmt.Fprintf(w, "%d dispatched, %d failed, %d claim(s) lost, %d waiting\n",
		len(r.Dispatched), len(r.Failed), r.ClaimConflicts, r.Waiting)
}
