package cli

import (
	"github.com/spf13/cobra"
)

func newMailCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "Prove that mail flows through the load balancer and the real client address survives",
		Long: `Commands for a mail server (Postfix with postscreen, Dovecot) behind a TCP
load balancer (HAProxy) that sends the PROXY protocol.

  labops mail roundtrip            send a tagged message and wait for it in IMAP
  labops mail proxycheck           the public path greets; alt ports require PROXY; health ports do not
  labops mail lint haproxy.cfg     health checks that hit a PROXY port, smtpchk against postscreen`,
	}
	cmd.AddCommand(
		newMailProxycheckCommand(app),
		newMailLintCommand(app),
		newMailRoundtripCommand(app),
	)
	return cmd
}
