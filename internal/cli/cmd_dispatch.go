package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/dispatch"
)

func newDispatchCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dispatch",
		Short: "Hand tracker issues to coding agents, and reap the ones that get stuck",
		Long: `Hand beads issues queued for the agent (open, unblocked, unassigned, with the
queue label; or, with "queue: assignee", open and assigned to the actor) to
the agent service, one per free slot, and block the agent's
in-progress issues that show no progress. Both stop while the kill switch
is on: "suspended: true" in the job's spec, or its kill_file existing.`,
	}
	cmd.AddCommand(newDispatchRunCommand(app), newDispatchReapCommand(app))
	return cmd
}

// dispatchSpec reads the spec of the dispatch-kind job named by args (or
// the only one of kind).
func (app *App) dispatchSpec(cmd *cobra.Command, configPath, kind string, args []string) (string, dispatch.Spec, error) {
	j, err := app.jobOfKind(cmd, configPath, kind, args)
	if err != nil {
		return "", dispatch.Spec{}, err
	}
	var spec dispatch.Spec
	if err := config.DecodeSpec(&j.Spec, &spec); err != nil {
		return "", dispatch.Spec{}, specError(cmd, j, err)
	}
	return j.Name, spec, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
