package cli

import (
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/mail"
)

type mailRoundtripOptions struct {
	smtp, smtpTLS, smtpSourceIP, helo string
	username, passwordFile            string
	brevoURL, brevoKeyFile            string
	from, to                          string
	imap, imapTLS                     string
	imapUsername, imapPasswordFile    string
	mailbox                           string
	imapPoll                          time.Duration
	caFile                            string
	insecure                          bool
	timeout                           time.Duration
	expectClientIP                    string
	json                              bool
}

func newMailRoundtripCommand(app *App) *cobra.Command {
	var o mailRoundtripOptions
	cmd := &cobra.Command{
		Use:   "roundtrip --to ADDR --imap HOST:PORT (--smtp HOST:PORT | --brevo-key-file FILE) [flags]",
		Short: "Send a tagged message and time its arrival in IMAP",
		Long: `Send one uniquely tagged message (a random token in the Subject and in an
X-Labops-Probe header) by SMTP submission or through Brevo's transactional
API, then watch the mailbox over IMAP (UID SEARCH by the header, waiting in
IDLE when the server offers it, else polling) until the message arrives or
--timeout passes. The probe message is deleted afterwards (\Deleted, then
UID EXPUNGE), and so are probes of earlier runs that arrived after their
deadline, once their token says they are over an hour old.

The mailbox is opened before anything is sent, so a refused IMAP login sends
nothing. The report shows where the time went: accepted by the sender (T1),
first seen in IMAP (T2), the round trip, and the client address the
receiving server wrote into its Received header; with --expect-client-ip it
must be that address, which proves that the real client IP survived a load
balancer's PROXY protocol.

Dovecot delays IDLE notifications by 500 ms, so with IDLE the round trip
reads about half a second long; --imap-poll-interval 50ms polls (NOOP and
SEARCH) and measures closer.

Results: ok; failed (a login, the message or a TLS certificate refused,
the message not arrived within --timeout, or not from --expect-client-ip);
incomplete (a server unreachable or answering with a temporary error, or
the timeout reached before the message was sent).
Passwords and the API key are read from files, never from the command line.
As a scheduled job this is the mail-roundtrip kind.`,
		Example: `  labops mail roundtrip --smtp mail.example.org:587 --username probe@example.org \
      --password-file /run/secrets/probe --to probe@example.org --imap mail.example.org:993
  labops mail roundtrip --brevo-key-file /run/secrets/brevo --from alerts@example.org \
      --to probe@example.org --imap mail.example.org:993 --imap-username probe@example.org \
      --imap-password-file /run/secrets/probe --expect-client-ip 185.41.28.1 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, app) },
	}
	f := cmd.Flags()
	f.StringVar(&o.smtp, "smtp", "", "SMTP submission server host:port (e.g. mail.example.org:587)")
	f.StringVar(&o.smtpTLS, "smtp-tls", "starttls", "SMTP security: starttls, implicit (port 465) or none")
	f.StringVar(&o.smtpSourceIP, "smtp-source-ip", "", "local address to connect to the SMTP server from")
	f.StringVar(&o.helo, "helo", "", "name to give in EHLO (default localhost)")
	f.StringVar(&o.username, "username", "", "SMTP login (also the IMAP login unless --imap-username)")
	f.StringVar(&o.passwordFile, "password-file", "", "file holding the SMTP password (also IMAP's unless --imap-password-file)")
	f.StringVar(&o.brevoURL, "brevo-url", mail.DefaultBrevoURL, "Brevo API base URL")
	f.StringVar(&o.brevoKeyFile, "brevo-key-file", "", "file holding a Brevo API key: send through Brevo instead of --smtp")
	f.StringVar(&o.from, "from", "", "sender address (default: --username, else --to)")
	f.StringVar(&o.to, "to", "", "recipient address: the mailbox IMAP watches")
	f.StringVar(&o.imap, "imap", "", "IMAP server host:port (e.g. mail.example.org:993)")
	f.StringVar(&o.imapTLS, "imap-tls", "implicit", "IMAP security: implicit (port 993), starttls or none")
	f.StringVar(&o.imapUsername, "imap-username", "", "IMAP login (default: --username)")
	f.StringVar(&o.imapPasswordFile, "imap-password-file", "", "file holding the IMAP password (default: --password-file)")
	f.StringVar(&o.mailbox, "mailbox", "INBOX", "IMAP mailbox the message must arrive in")
	f.DurationVar(&o.imapPoll, "imap-poll-interval", 0, "poll at this interval instead of waiting in IDLE (0: IDLE when offered)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM file with extra CA certificates to trust (SMTP and IMAP)")
	f.BoolVar(&o.insecure, "insecure-skip-verify", false, "accept any TLS certificate (throwaway test servers only)")
	f.DurationVar(&o.timeout, "timeout", mail.DefaultRoundtripTimeout, "time limit for the whole probe: connecting, sending and waiting")
	f.StringVar(&o.expectClientIP, "expect-client-ip", "", "fail unless the receiving server recorded this client address")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

// spec turns the flags into the job's spec, so that one code path builds
// the probe for the command and for the mail-roundtrip job.
func (o *mailRoundtripOptions) spec(cmd *cobra.Command) (mail.RoundtripSpec, error) {
	switch {
	case o.smtp == "" && o.brevoKeyFile == "":
		return mail.RoundtripSpec{}, usageErrorf(cmd, "give --smtp HOST:PORT or --brevo-key-file FILE: how the probe is sent")
	case o.smtp != "" && o.brevoKeyFile != "":
		return mail.RoundtripSpec{}, usageErrorf(cmd, "give --smtp or --brevo-key-file, not both")
	case o.to == "":
		return mail.RoundtripSpec{}, usageErrorf(cmd, "--to is required: the address whose mailbox IMAP watches")
	case o.imap == "":
		return mail.RoundtripSpec{}, usageErrorf(cmd, "--imap HOST:PORT is required")
	case o.username != "" && o.passwordFile == "" && o.smtp != "":
		return mail.RoundtripSpec{}, usageErrorf(cmd, "--username needs --password-file (passwords are never taken on the command line)")
	case o.passwordFile != "" && o.username == "":
		return mail.RoundtripSpec{}, usageErrorf(cmd, "--password-file needs --username")
	case o.timeout <= 0:
		return mail.RoundtripSpec{}, usageErrorf(cmd, "--timeout %v: valid is a positive duration such as 2m", o.timeout)
	}
	s := mail.RoundtripSpec{From: o.from, To: o.to, Timeout: o.timeout.String(), ExpectClientIP: o.expectClientIP}
	if s.From == "" {
		s.From = o.to
		if strings.Contains(o.username, "@") && o.smtp != "" {
			s.From = o.username
		}
	}
	if o.smtp != "" {
		s.SMTP = &mail.SMTPSpec{Addr: o.smtp, TLS: o.smtpTLS, Username: o.username, PasswordFile: o.passwordFile,
			CAFile: o.caFile, InsecureSkipVerify: o.insecure, Helo: o.helo, SourceIP: o.smtpSourceIP}
	} else {
		s.Brevo = &mail.BrevoSpec{URL: o.brevoURL, APIKeyFile: o.brevoKeyFile}
	}
	s.IMAP = mail.IMAPSpec{Addr: o.imap, TLS: o.imapTLS, Username: o.imapUsername, PasswordFile: o.imapPasswordFile,
		Mailbox: o.mailbox, CAFile: o.caFile, InsecureSkipVerify: o.insecure}
	if s.IMAP.Username == "" {
		s.IMAP.Username = o.username
	}
	if s.IMAP.PasswordFile == "" {
		s.IMAP.PasswordFile = o.passwordFile
	}
	if s.IMAP.Username == "" || s.IMAP.PasswordFile == "" {
		return s, usageErrorf(cmd, "IMAP needs a login: --imap-username and --imap-password-file (or --username and --password-file)")
	}
	if o.imapPoll != 0 {
		s.IMAP.PollInterval = o.imapPoll.String()
	}
	return s, nil
}

// roundtripFlagOf names the flag behind a spec path in a problem.
var roundtripFlagOf = map[string]string{
	"from": "--from", "to": "--to", "timeout": "--timeout", "expect_client_ip": "--expect-client-ip",
	"smtp.addr": "--smtp", "smtp.tls": "--smtp-tls", "smtp.source_ip": "--smtp-source-ip", "brevo.url": "--brevo-url",
	"imap.addr": "--imap", "imap.tls": "--imap-tls", "imap.poll_interval": "--imap-poll-interval",
}

func (o *mailRoundtripOptions) run(cmd *cobra.Command, app *App) error {
	spec, err := o.spec(cmd)
	if err != nil {
		return err
	}
	rt, err := mail.NewRoundtrip(spec, nil, app.Logger)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			lines := make([]string, len(ps))
			for i, p := range ps {
				if f, ok := roundtripFlagOf[p.Path]; ok {
					p.Path = f
				}
				lines[i] = p.String()
			}
			return usageErrorf(cmd, "%s", strings.Join(lines, "\n"))
		}
		// A secret file that cannot be read is a usage error, as in oci.
		return usageErrorf(cmd, "%v", err)
	}
	rep := rt.Run(cmd.Context())
	return app.printReport(rep, o.json, rep.Status, "the probe is incomplete", rep.Error)
}
