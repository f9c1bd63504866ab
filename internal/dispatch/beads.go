package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// Beads is the Tracker over a beads workspace, driving the real `bd` CLI
// with --json. Every call is one bd process run in Dir.
type Beads struct {
	// Bin is the bd binary ("bd": found on PATH).
	Bin string
	// Dir is the workspace: the directory holding .beads.
	Dir string
	// Label marks the queue (queue "label").
	Label string
	// Queue is QueueLabel (default) or QueueAssignee: then the queue is
	// the open issues assigned to Actor.
	Queue string
	// Actor is who the comments are from.
	Actor string
	// Env is added to bd's environment (tests).
	Env []string
}

var _ Tracker = (*Beads)(nil)

// bdError is a failed bd command, with its stderr.
type bdError struct {
	args   []string
	stderr []byte
	err    error
}

func (e *bdError) Error() string {
	return fmt.Sprintf("bd %s: %v: %s", e.args[0], e.err, snippet(e.stderr))
}

func (e *bdError) Unwrap() error { return e.err }

// run runs bd with args and returns its stdout.
func (b *Beads) run(ctx context.Context, actor string, args ...string) ([]byte, error) {
	bin := b.Bin
	if bin == "" {
		bin = "bd"
	}
	full := args
	if actor != "" {
		full = append([]string{"--actor", actor}, args...)
	}
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = b.Dir
	cmd.Env = append(cmd.Environ(), b.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("bd %s: %w", args[0], ctx.Err())
		}
		return nil, &bdError{args: args, stderr: stderr.Bytes(), err: err}
	}
	return stdout.Bytes(), nil
}

// Ready lists open, unblocked, unassigned issues with the queue label.
func (b *Beads) Ready(ctx context.Context) ([]Issue, error) {
	args := []string{"ready", "--label", b.Label, "--unassigned", "--json"}
	if b.Queue == QueueAssignee {
		args = []string{"ready", "--assignee", b.Actor, "--json"}
	}
	out, err := b.run(ctx, "", args...)
	if err != nil {
		return nil, fmt.Errorf("listing ready issues: %w", err)
	}
	return parseIssues(out)
}

// Show reads one issue.
func (b *Beads) Show(ctx context.Context, id string) (Issue, error) {
	out, err := b.run(ctx, "", "show", id, "--json")
	if err != nil {
		if be := (*bdError)(nil); errors.As(err, &be) && isNotFound(be.stderr) {
			return Issue{}, fmt.Errorf("issue %s: %w", id, ErrNotFound)
		}
		return Issue{}, fmt.Errorf("reading issue %s: %w", id, err)
	}
	return parseOneIssue(out, id)
}

// Claim is bd's compare-and-set claim as actor.
func (b *Beads) Claim(ctx context.Context, id, actor string) error {
	_, err := b.run(ctx, actor, "update", id, "--claim", "--json")
	if err != nil {
		if be := (*bdError)(nil); errors.As(err, &be) && isClaimConflict(be.stderr) {
			return fmt.Errorf("claiming issue %s as %s: %w: %s", id, actor, ErrClaimConflict, snippet(be.stderr))
		}
		return fmt.Errorf("claiming issue %s: %w", id, err)
	}
	return nil
}

// Release puts an issue back to open and unassigned.
func (b *Beads) Release(ctx context.Context, id string) error {
	if _, err := b.run(ctx, b.Actor, "update", id, "--status", StatusOpen, "--assignee", "", "--json"); err != nil {
		return fmt.Errorf("releasing issue %s: %w", id, err)
	}
	return nil
}

// Block sets an issue's status to blocked.
func (b *Beads) Block(ctx context.Context, id string) error {
	if _, err := b.run(ctx, b.Actor, "update", id, "--status", StatusBlocked, "--json"); err != nil {
		return fmt.Errorf("blocking issue %s: %w", id, err)
	}
	return nil
}

// Comment adds a comment (never a note: concurrent notes were lost).
func (b *Beads) Comment(ctx context.Context, id, text string) error {
	if _, err := b.run(ctx, b.Actor, "comments", "add", id, text, "--json"); err != nil {
		return fmt.Errorf("commenting on issue %s: %w", id, err)
	}
	return nil
}

// InProgressBefore lists in-progress queue issues last updated before t,
// with an absolute time (bd query durations read "30m" as 30 months).
func (b *Beads) InProgressBefore(ctx context.Context, t time.Time) ([]Issue, error) {
	sel := []string{"--label", b.Label}
	if b.Queue == QueueAssignee {
		sel = []string{"--assignee", b.Actor}
	}
	args := append(append([]string{"list", "--status", StatusInProgress}, sel...),
		"--updated-before", t.UTC().Format(time.RFC3339), "--json")
	out, err := b.run(ctx, "", args...)
	if err != nil {
		return nil, fmt.Errorf("listing in-progress issues: %w", err)
	}
	return parseIssues(out)
}

var _ Elector = (*Beads)(nil)

// Comments lists an issue's comments (`bd comments <id> --json`).
func (b *Beads) Comments(ctx context.Context, id string) ([]Comment, error) {
	out, err := b.run(ctx, "", "comments", id, "--json")
	if err != nil {
		return nil, fmt.Errorf("listing comments of issue %s: %w", id, err)
	}
	out = bytes.TrimSpace(out)
	if len(out) == 0 || string(out) == "null" {
		return nil, nil
	}
	var cs []Comment
	if err := json.Unmarshal(out, &cs); err != nil {
		return nil, fmt.Errorf("reading bd comments reply for %s: %w: %q", id, err, snippet(out))
	}
	return cs, nil
}

// SetStatus sets an issue's status, leaving its assignee alone.
func (b *Beads) SetStatus(ctx context.Context, id, status string) error {
	if _, err := b.run(ctx, b.Actor, "update", id, "--status", status, "--json"); err != nil {
		return fmt.Errorf("setting issue %s to %s: %w", id, status, err)
	}
	return nil
}
