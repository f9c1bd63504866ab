package cli

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/secrets"
)

func newSecretsCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Keep rotated credentials in sync with the services that hold copies",
		Long: `Keep a rotated credential (a mounted Kubernetes Secret, or Vault: KV v2 or a
database static role) in sync with every consumer holding a copy: a
Technitium app's connection string, a Grafana datasource, any HTTP endpoint.
Secrets never appear in output, logs or the state dir.`,
	}
	cmd.AddCommand(newSecretsSyncCommand(app))
	return cmd
}

type secretsSyncOptions struct {
	configPath string
	force      bool
	dryRun     bool
	json       bool
	timeout    time.Duration
}

func newSecretsSyncCommand(app *App) *cobra.Command {
	var o secretsSyncOptions
	cmd := &cobra.Command{
		Use:   "sync [JOB] [--config FILE] [--force] [--json]",
		Short: "Push the current credential to each consumer that lacks it, then verify",
		Long: `One sync of a secret-sync job (JOB, or the only one): read the credential
from the source, compare a keyed hash of it (HMAC-SHA256 under a key kept in
the state dir) with the one stored for each sink, push it only where it
differs, then verify the sink where it can be checked: a Technitium app's
config is read back and its user logs in to the MySQL server the connection
string names; a Grafana datasource runs its health check. A sink's new hash
is stored only after its push and verification succeed, so a failed sink is
pushed again by the next run. An unchanged sink is still verified, and
pushed again if its consumer no longer works with the credential.

With a Vault static role, the reply's ttl says when Vault rotates the
password next; MariaDB has no dual passwords, so a consumer is broken from
that moment until the next sync. labops serve runs the job again just after
the rotation (after_rotation, default 1m); a CronJob cannot, so the rotation
time is exported (labops_secret_sync_rotation_timestamp_seconds) and
LabopsSecretRotatedNotSynced fires when it passed without a sync.

The job in the config file:

  - name: querylogs-password
    kind: secret-sync
    schedule: "0 */6 * * *"
    spec:
      state_dir: /var/lib/labops/secrets
      source:            # one of:
        file: {password_file: /run/secrets/db/password, username: dns}
        # vault: {address: URL, token_file: F | kubernetes: {role: R},
        #         static_creds: {role: R} | kv: {path: P, password_key: K}}
      sinks:             # each one of technitium, grafana, http:
        - name: dns1
          technitium: {url: URL, token_file: F, app: "Query Logs (MySQL)"}
        - name: grafana
          grafana: {url: URL, token_file: F, datasource_uid: UID}
        - name: hook
          http: {url: URL, body: '{"password": {{json .Password}}}'}`,
		Example: `  labops secrets sync querylogs-password --config /etc/labops/labops.yaml
  labops secrets sync --dry-run
  labops secrets sync --force --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	f.BoolVar(&o.force, "force", false, "push to every sink even when its stored hash matches")
	f.BoolVar(&o.dryRun, "dry-run", false, "read the source and the hashes and say which sinks would get the value; push, verify and store nothing")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long (exit 3)")
	return cmd
}

func (o *secretsSyncOptions) run(cmd *cobra.Command, app *App, args []string) error {
	j, err := app.jobOfKind(cmd, o.configPath, "secret-sync", args)
	if err != nil {
		return err
	}
	var spec secrets.Spec
	if err := config.DecodeSpec(&j.Spec, &spec); err != nil {
		return specError(cmd, j, err)
	}
	sy, err := spec.Syncer(j.Name)
	if err != nil {
		return specError(cmd, j, err)
	}
	sy.Force, sy.DryRun = o.force, o.dryRun
	sy.Logger = app.Logger.With("job", j.Name)
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	rep := sy.Run(ctx)
	res := rep.Result()
	return app.printReport(textAndJSON{rep, func(w io.Writer) { io.WriteString(w, rep.Text()) }}, o.json, res.Status, "the sync is incomplete", res.Error)
}
