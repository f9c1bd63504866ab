package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
)

func newDNSCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Keep the zones of several DNS servers equal, and prove it",
		Long: `Commands for a set of authoritative DNS servers (PowerDNS, BIND or Knot
through plain DNS, Technitium). The servers are described in a dns-sync or
dns-ready job of the config file; the command names the job, or finds the
only one of its kind.

  labops dns sync [JOB]     plan (and with --apply make) the targets equal to the source
  labops dns ready [JOB]    the readiness gate: same zones, serials and records everywhere
  labops dns tsigcheck      signed updates accepted, unsigned and wrongly signed ones refused
  labops dns fallback       every resolver answers, and clients fall back past a dead first one`,
	}
	cmd.AddCommand(
		newDNSSyncCommand(app),
		newDNSReadyCommand(app),
		newDNSTSIGCheckCommand(app),
		newDNSFallbackCommand(app),
	)
	return cmd
}

// dnsJob finds the job of kind in the config file: the named one, or the
// only one of that kind.
func (app *App) dnsJob(cmd *cobra.Command, configPath, kind string, args []string) (*config.Job, error) {
	f, path, err := app.loadConfig(cmd, configPath, true)
	if err != nil {
		return nil, err
	}
	var ofKind []string
	for _, j := range f.Jobs {
		if j.Kind == kind {
			ofKind = append(ofKind, j.Name)
		}
	}
	if len(args) == 1 {
		j, ok := f.Find(args[0])
		switch {
		case !ok:
			return nil, usageErrorf(cmd, "%s: no job named %q (%s jobs: %s)", path, args[0], kind, listOrNone(ofKind))
		case j.Kind != kind:
			return nil, usageErrorf(cmd, "%s: job %q is of kind %s, not %s", path, args[0], j.Kind, kind)
		}
		return j, nil
	}
	if len(ofKind) != 1 {
		return nil, usageErrorf(cmd, "%s: name the %s job to run (%s jobs: %s)", path, kind, kind, listOrNone(ofKind))
	}
	j, _ := f.Find(ofKind[0])
	return j, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// dnsSpecError turns a spec problem into a usage error naming the job.
func dnsSpecError(cmd *cobra.Command, j *config.Job, err error) error {
	return usageErrorf(cmd, "%v", config.Prefixed(fmt.Sprintf("job %s: spec", j.Name), err))
}
