package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/mail"
)

type mailLintOptions struct {
	postscreenPorts []int
	json            bool
}

func newMailLintCommand(app *App) *cobra.Command {
	var o mailLintOptions
	cmd := &cobra.Command{
		Use:   "lint HAPROXY.CFG",
		Short: "Flag HAProxy health checks that hit a PROXY-requiring mail port",
		Long: `Read an HAProxy configuration (global, defaults, named defaults and "from",
frontend, backend and listen sections, default-server inheritance) and flag:

  check-on-proxy-port
      a server that sends PROXY (send-proxy, send-proxy-v2, directly or
      through default-server) and is health-checked on that same port. Such
      a check sends a PROXY v2 LOCAL header and closes with a reset; Postfix
      up to 3.10 then falls back to getpeername(), fails, and smtpd exits
      with "fatal: smtpd_peer_hostaddr_to_sockaddr: ... Servname not
      supported for ai_socktype"; master throttles the service and real
      clients time out. check-send-proxy does the same and is not a fix.
      Fixes: checks on a plain port (check port N, or addr), the global
      pp2-never-send-local, or option tcp-check with
      "tcp-check connect linger" (closes with FIN).
  smtpchk-against-postscreen
      option smtpchk against a postscreen port (--postscreen-port, default
      25): postscreen's multi-line 220- greeting fails the check unless the
      checker is allowlisted.

Exit 1 with findings, 0 when clean, 2 when the file cannot be read or
parsed.`,
		Example: `  labops mail lint /etc/haproxy/haproxy.cfg
  labops mail lint haproxy.cfg --postscreen-port 10025 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0]) },
	}
	cmd.Flags().IntSliceVar(&o.postscreenPorts, "postscreen-port", nil, "a backend port where postscreen listens (repeatable; default 25)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the findings as JSON")
	return cmd
}

func (o *mailLintOptions) run(cmd *cobra.Command, app *App, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return usageErrorf(cmd, "reading %s: %v", path, errors.Unwrap(err))
	}
	cfg, err := mail.ParseHAProxy(path, data)
	if err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	findings, err := mail.Lint(cfg, mail.LintOptions{PostscreenPorts: o.postscreenPorts})
	if err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	if o.json {
		enc := json.NewEncoder(app.Stdout)
		enc.SetIndent("", "  ")
		if findings == nil {
			findings = []mail.LintFinding{}
		}
		if err := enc.Encode(findings); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	} else {
		mail.WriteLintText(app.Stdout, path, findings)
	}
	if len(findings) > 0 {
		return exitWith(ExitFailed)
	}
	return nil
}
