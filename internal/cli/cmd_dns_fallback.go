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

type dnsFallbackOptions struct {
	configPath string
	spec       dnssync.FallbackSpec
	json       bool
	timeout    time.Duration
}

func newDNSFallbackCommand(app *App) *cobra.Command {
	var o dnsFallbackOptions
	cmd := &cobra.Command{
		Use:   "fallback [JOB] | --name NAME (--resolver ADDR... | --resolv-conf FILE)",
		Short: "Prove each resolver answers and a client falls back past an unreachable first one",
		Long: `Query each resolver on its own for NAME (it must answer, and it names
itself where it supports NSID), and report its latency. Then drill the
fallback: resolve NAME trying the resolvers in order as a stub resolver
does (per-resolver timeout and attempts, from resolv.conf or the flags),
with the first one replaced by an unreachable address (--unreachable,
default 192.0.2.1:53, a blackhole); it must resolve through the next one
within --bound (default timeout*attempts + 1s). A resolver that does not
answer, a failed or slow drill, or a single resolver is a finding (exit 1).

The resolvers and name come from the flags, or from a dns-fallback job of
the config file (JOB, or the only one) when --name is not given.`,
		Example: `  labops dns fallback --name example.org --resolv-conf /etc/resolv.conf
  labops dns fallback --name www.example.org --resolver 10.0.0.53:53 --resolver 10.0.0.54:53 --timeout 1s
  labops dns fallback resolvers --config /etc/labops/labops.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := o.spec
			if spec.Name == "" {
				j, err := app.jobOfKind(cmd, o.configPath, "dns-fallback", args)
				if err != nil {
					return err
				}
				if err := config.DecodeSpec(&j.Spec, &spec); err != nil {
					return specError(cmd, j, err)
				}
			} else if len(args) > 0 {
				return usageErrorf(cmd, "give JOB or --name with resolvers, not both")
			}
			fo, err := spec.Options()
			if err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			rep := dnssync.Fallback(ctx, fo)
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
	f.StringVar(&o.spec.Name, "name", "", "the name that must resolve")
	f.StringVar(&o.spec.Type, "type", "", "its record type (default A)")
	f.StringArrayVar(&o.spec.Resolvers, "resolver", nil, "a resolver, host:port, in the order clients try them (repeatable)")
	f.StringVar(&o.spec.ResolvConf, "resolv-conf", "", "read the resolvers, timeout and attempts from this resolv.conf")
	f.StringVar(&o.spec.Timeout, "query-timeout", "", "per-resolver timeout (default resolv.conf's, else 1s)")
	f.IntVar(&o.spec.Attempts, "attempts", 0, "rounds over the resolvers (default resolv.conf's, else 1)")
	f.StringVar(&o.spec.Bound, "bound", "", "how long the drill may take (default timeout*attempts + 1s)")
	f.StringVar(&o.spec.Unreachable, "unreachable", "", "the address standing in for the first resolver (default 192.0.2.1:53)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long (exit 3)")
	return cmd
}
