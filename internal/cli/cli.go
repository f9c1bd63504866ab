// Package cli holds labops' cobra commands, one file per command, the root
// logger and the single place where errors become exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, everywhere.
const (
	ExitOK         = 0 // all good
	ExitFailed     = 1 // the job ran and found problems or failed
	ExitUsage      = 2 // usage or configuration error
	ExitIncomplete = 3 // the job could not complete (unreachable, timeout)
)

// exitCodesHelp is appended to every command's help.
const exitCodesHelp = `
EXIT STATUS
  0  all good
  1  the job ran and found problems, or failed
  2  usage or configuration error
  3  the job could not complete (target unreachable, refused, timeout)
`

// ExitError carries an exit code up to Execute. A nil Err means the command
// has already told the user everything (a report that ends in exit 1).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageErrorf is a bad-input error: exit 2, with a hint to the help of cmd.
func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format+"\ntry: %s --help", append(args, cmd.CommandPath())...)}
}

// exitWith ends a command with code and no further message.
func exitWith(code int) error {
	if code == ExitOK {
		return nil
	}
	return &ExitError{Code: code}
}

// App is what every command shares: the output streams and the root logger.
type App struct {
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger
	// Getenv is os.Getenv unless a test replaces it.
	Getenv func(string) string
	// Getwd is os.Getwd unless a test replaces it.
	Getwd func() (string, error)

	logLevel  string
	logFormat string
}

// Execute runs labops with args (without the program name) and returns the
// process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &App{Stdout: stdout, Stderr: stderr, Getenv: os.Getenv, Getwd: os.Getwd}
	root := newRootCommand(app)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return finish(root.ExecuteContext(ctx), stderr)
}

// finish is the one switch from a command's error to the exit code.
func finish(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "labops:", ee.Err)
		}
		return ee.Code
	}
	// Anything cobra itself rejects (unknown flag, wrong arg count) is usage.
	fmt.Fprintln(stderr, "labops:", err)
	if !strings.Contains(err.Error(), "--help") {
		fmt.Fprintln(stderr, "try: labops --help")
	}
	return ExitUsage
}

func newRootCommand(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "labops",
		Short: "The operations layer of a self-hosted cluster",
		Long: `labops runs the jobs a self-hosted cluster needs and proves them end to end:
registry integrity, retention and mirrors (oci), mail round trips and PROXY
paths (mail), DNS sync and parity (dns), database backups restored and
checked (backup), tracker issues handed to coding agents (dispatch), and
rotated credentials pushed into their consumers (secrets). Each job runs
one-shot (labops run JOB, as a Kubernetes CronJob) or scheduled inside
labops serve.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			lg, err := newLogger(app.Stderr, app.logLevel, app.logFormat)
			if err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			app.Logger = lg
			return nil
		},
	}
	root.PersistentFlags().StringVar(&app.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&app.logFormat, "log-format", "text", "log format: text or json")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf(cmd, "%v", err)
	})
	root.AddCommand(
		newVersionCommand(app),
		newConfigCommand(app),
		newRunCommand(app),
		newServeCommand(app),
		newOCICommand(app),
		newMailCommand(app),
		newDNSCommand(app),
		newBackupCommand(app),
		newDispatchCommand(app),
		newSecretsCommand(app),
	)
	addExitCodesHelp(root)
	return root
}

// addExitCodesHelp appends the exit codes to the help of cmd and all its
// descendants.
func addExitCodesHelp(cmd *cobra.Command) {
	cmd.Long = strings.TrimRight(cmd.Long, "\n") + "\n" + exitCodesHelp
	if cmd.Long == "\n"+exitCodesHelp {
		cmd.Long = cmd.Short + "\n" + exitCodesHelp
	}
	for _, c := range cmd.Commands() {
		addExitCodesHelp(c)
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not a level (valid: debug, info, warn, error)", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format: %q is not a format (valid: text, json)", format)
	}
}
