package cli

import (
	"fmt"
	"io"

	"github.com/labops/labops/internal/job"
)

// report is what a command prints: text by default, JSON with --json.
type report interface {
	WriteText(w io.Writer) error
	WriteJSON(w io.Writer) error
}

// printReport writes r and ends the command with the exit code of status.
// An incomplete run also says why on stderr, after incomplete ("the scan is
// incomplete"): a probe that could not see everything must say so loudly.
func (app *App) printReport(r report, asJSON bool, status job.Status, incomplete, reason string) error {
	var err error
	if asJSON {
		err = r.WriteJSON(app.Stdout)
	} else {
		err = r.WriteText(app.Stdout)
	}
	if err != nil {
		return &ExitError{Code: ExitIncomplete, Err: fmt.Errorf("writing the report: %w", err)}
	}
	if status == job.StatusIncomplete {
		return &ExitError{Code: ExitIncomplete, Err: fmt.Errorf("%s: %s", incomplete, reason)}
	}
	return exitWith(job.ExitCode(status))
}

// textAndJSON is a report made of a value (its JSON form) and a function
// writing its human form, for reports that have no methods of their own.
type textAndJSON struct {
	v    any
	text func(w io.Writer)
}

func (r textAndJSON) WriteText(w io.Writer) error { r.text(w); return nil }
func (r textAndJSON) WriteJSON(w io.Writer) error { return writeJSON(w, r.v) }
