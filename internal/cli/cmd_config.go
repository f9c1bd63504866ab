package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/kinds"
)

func newConfigCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the labops config file",
	}
	cmd.AddCommand(newConfigCheckCommand(app))
	return cmd
}

type configCheckOptions struct {
	configPath string
}

func newConfigCheckCommand(app *App) *cobra.Command {
	var o configCheckOptions
	cmd := &cobra.Command{
		Use:   "check [--config FILE]",
		Short: "Check the config file and report every problem at once",
		Long: `Check the config file strictly: unknown fields, bad cron schedules, unknown
job kinds, invalid job specs, unset ${ENV} references. Every problem is
reported at once, each with its path (jobs[2].schedule: ...), and the exit
status is 2 when there is any.

Without --config, labops reads ` + config.DefaultFile + ` in the working directory.`,
		Example: `  labops config check --config /etc/labops/labops.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, path, err := app.loadConfig(cmd, o.configPath, true)
			if err != nil {
				return err
			}
			fmt.Fprintf(app.Stdout, "%s: ok, %d job(s)\n", path, len(f.Jobs))
			return nil
		},
	}
	cmd.Flags().StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	return cmd
}

// errNoConfig means neither --config nor ./labops.yaml was there.
var errNoConfig = errors.New("no config file")

// findConfig returns the config path to use: flag, else ./labops.yaml if it
// exists, else errNoConfig.
func (app *App) findConfig(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	wd, err := app.Getwd()
	if err != nil {
		return "", err
	}
	p := filepath.Join(wd, config.DefaultFile)
	if _, err := os.Stat(p); err != nil {
		return "", errNoConfig
	}
	return p, nil
}

// loadConfig finds, parses and (fully) validates the config. Every problem
// becomes a usage error (exit 2) listing all of them.
func (app *App) loadConfig(cmd *cobra.Command, flag string, required bool) (*config.File, string, error) {
	path, err := app.findConfig(flag)
	if errors.Is(err, errNoConfig) {
		if !required {
			return nil, "", err
		}
		return nil, "", usageErrorf(cmd, "no config file: pass --config FILE or create ./%s", config.DefaultFile)
	}
	if err != nil {
		return nil, "", &ExitError{Code: ExitUsage, Err: err}
	}
	f, err := config.Load(path, app.Getenv)
	if err == nil {
		err = f.Validate(kinds.All())
	}
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			return nil, "", &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: %d problem(s):\n%s", path, len(ps), indent(ps.Error()))}
		}
		return nil, "", &ExitError{Code: ExitUsage, Err: err}
	}
	return f, path, nil
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}

// jobOfKind finds the job of kind in the config file: the named one, or the
// only one of that kind.
func (app *App) jobOfKind(cmd *cobra.Command, configPath, kind string, args []string) (*config.Job, error) {
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

// specError turns a spec problem into a usage error naming the job.
func specError(cmd *cobra.Command, j *config.Job, err error) error {
	return usageErrorf(cmd, "%v", config.Prefixed(fmt.Sprintf("job %s: spec", j.Name), err))
}
