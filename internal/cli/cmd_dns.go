package cli

import "github.com/spf13/cobra"

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
