package cli

import (
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/mail"
)

type mailProxycheckOptions struct {
	configPath  string
	set         mail.ListenerSpec
	count       int
	timeout     string
	noProxyWait string
	proxySource string
	json        bool
}

func newMailProxycheckCommand(app *App) *cobra.Command {
	var o mailProxycheckOptions
	cmd := &cobra.Command{
		Use:   "proxycheck [JOB] [--config FILE] | --public ADDR --alt ADDR --health ADDR --stock ADDR",
		Short: "Check the PROXY-protocol mail path: public greets, alt requires PROXY, health does not",
		Long: `Check each listener set of a mail server behind a load balancer that sends the
PROXY protocol, one connection at a time:

  public   the path through the load balancer gives a complete greeting on
           --count connections in a row (SMTP's multi-line 220- greeting and
           postscreen's pre-greet pause are waited for; IMAP's * OK), with
           the success rate and latency percentiles
  alt      the PROXY-requiring backend port greets after a PROXY v2 header
           that labops sends claiming --proxy-source (203.0.113.7: look for
           it in the server's log), and stays silent without one (a
           greeting there means its PROXY requirement is off)
  health   the load balancer's check port greets without PROXY
  stock    the in-cluster listener greets without PROXY

With --lb-source, an alt port that accepts labops' PROXY header although
labops connects from another address is a finding: Postfix trusts a PROXY
header from anyone who reaches the port, so anyone can claim any client
address. Only the load balancer should reach it.

The listener sets come from the mail-proxycheck job JOB in the config file,
or from the flags for a one-off run. Implicit-TLS ports (465, 993) are not
supported: check their plain or STARTTLS siblings.

Exit 1 with a finding per broken expectation; 3 when nothing answered at all.`,
		Example: `  labops mail proxycheck mail-path --config /etc/labops/labops.yaml
  labops mail proxycheck --public mail.example.org:587 --alt 10.0.0.5:10587 \
      --health 10.0.0.5:10026 --stock 10.0.0.5:587 --lb-source 10.0.0.2
  labops mail proxycheck --protocol imap --public mail.example.org:143 --alt 10.0.0.5:10143 --count 20 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file with JOB (default ./"+config.DefaultFile+")")
	f.StringVar(&o.set.Public, "public", "", "the public path through the load balancer (host:port)")
	f.StringVar(&o.set.Alt, "alt", "", "the backend port that requires PROXY v2 (host:port)")
	f.StringVar(&o.set.Health, "health", "", "the plain port the load balancer's health checks use (host:port)")
	f.StringVar(&o.set.Stock, "stock", "", "the plain in-cluster listener (host:port)")
	f.StringVar(&o.set.Protocol, "protocol", "smtp", "smtp or imap")
	f.StringArrayVar(&o.set.LBSources, "lb-source", nil, "an address the load balancer connects from (repeatable)")
	f.IntVar(&o.count, "count", mail.DefaultProxycheckCount, "connections in a row on the public path")
	f.StringVar(&o.timeout, "timeout", mail.DefaultProxycheckTimeout.String(), "per connection: connect and a complete greeting")
	f.StringVar(&o.noProxyWait, "no-proxy-wait", mail.DefaultNoProxyWait.String(), "how long an alt port must stay silent without PROXY")
	f.StringVar(&o.proxySource, "proxy-source", mail.DefaultProxySource, "client address to claim in the PROXY header")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

func (o *mailProxycheckOptions) run(cmd *cobra.Command, app *App, args []string) error {
	spec, err := o.spec(cmd, app, args)
	if err != nil {
		return err
	}
	p, err := mail.NewProxycheck(spec, job.Deps{Name: "mail-proxycheck", Logger: app.Logger})
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			return usageErrorf(cmd, "%d problem(s):\n%s", len(ps), indent(ps.Error()))
		}
		return usageErrorf(cmd, "%v", err)
	}
	rep := p.Check(cmd.Context(), app.Logger)
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

// spec is the job's spec from the config (JOB given) or from the flags;
// --count, --timeout, --no-proxy-wait and --proxy-source override the
// config's values when given.
func (o *mailProxycheckOptions) spec(cmd *cobra.Command, app *App, args []string) (mail.ProxycheckSpec, error) {
	var spec mail.ProxycheckSpec
	fl := cmd.Flags()
	if len(args) == 1 {
		for _, name := range []string{"public", "alt", "health", "stock", "protocol", "lb-source"} {
			if fl.Changed(name) {
				return spec, usageErrorf(cmd, "--%s: give the listeners in the config's job %s or as flags, not both", name, args[0])
			}
		}
		f, _, err := app.loadConfig(cmd, o.configPath, true)
		if err != nil {
			return spec, err
		}
		j, ok := f.Find(args[0])
		if !ok {
			return spec, usageErrorf(cmd, "no job named %q in the config", args[0])
		}
		if j.Kind != "mail-proxycheck" {
			return spec, usageErrorf(cmd, "job %q is a %s job, not mail-proxycheck", args[0], j.Kind)
		}
		if err := config.DecodeSpec(&j.Spec, &spec); err != nil {
			return spec, usageErrorf(cmd, "job %s: %v", args[0], err)
		}
	} else {
		if o.set.Public == "" && o.set.Alt == "" && o.set.Health == "" && o.set.Stock == "" {
			return spec, usageErrorf(cmd, "name a mail-proxycheck JOB from the config, or give at least one of --public, --alt, --health, --stock")
		}
		set := o.set
		set.Name = set.Protocol
		spec.Listeners = []mail.ListenerSpec{set}
	}
	if len(args) == 0 || fl.Changed("count") {
		spec.Count = o.count
	}
	if len(args) == 0 || fl.Changed("timeout") {
		spec.Timeout = o.timeout
	}
	if len(args) == 0 || fl.Changed("no-proxy-wait") {
		spec.NoProxyWait = o.noProxyWait
	}
	if len(args) == 0 || fl.Changed("proxy-source") {
		spec.ProxySource = o.proxySource
	}
	if spec.Count == 0 && fl.Changed("count") {
		return spec, usageErrorf(cmd, "--count 0: valid is 1 to 1000")
	}
	return spec, nil
}
