package cli

import (
	"fmt"
	"io"
	"strings"
)

// CheckArgs reports whether args (without the program name) name a labops
// command that would run: the command exists and is runnable, every flag
// is known and well-formed, and the arguments pass the command's own
// argument rule. Nothing runs. Deployment manifests and runbooks are
// checked with it, so a renamed command or flag fails their tests instead
// of a CronJob at 3 a.m.
func CheckArgs(args []string) error {
	app := &App{Stdout: io.Discard, Stderr: io.Discard}
	root := newRootCommand(app)
	cmd, rest, err := root.Find(args)
	if err != nil {
		return fmt.Errorf("labops %s: %w", strings.Join(args, " "), err)
	}
	if !cmd.Runnable() {
		return fmt.Errorf("labops %s: %q is a group of commands, not a command", strings.Join(args, " "), cmd.CommandPath())
	}
	cmd.InitDefaultHelpFlag()
	if err := cmd.ParseFlags(rest); err != nil {
		return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	if cmd.Args != nil {
		if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
			return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
		}
	}
	return nil
}
