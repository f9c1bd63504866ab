package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/oci"
)

type ociMirrorOptions struct {
	// src and dst carry each side's auth flags; the shared flags live in
	// shared and are copied into both before their clients are built.
	shared, src, dst ociFlags
	repos            []string
	apply            bool
	prune            bool
	force            bool
	maxShare         float64
	pageSize         int
}

// registerSide adds --src-* or --dst-* auth flags for one side.
func registerSide(fs *pflag.FlagSet, f *ociFlags, side, name string) {
	fs.BoolVar(&f.plainHTTP, side+"-plain-http", false, "talk plain HTTP to the "+name+" (also implied by an http:// address)")
	fs.StringVar(&f.username, side+"-username", "", name+" username (default: from the Docker config file, else anonymous)")
	fs.StringVar(&f.passwordFile, side+"-password-file", "", "file holding the "+name+" password or token (needs --"+side+"-username)")
	fs.StringVar(&f.caFile, side+"-ca-file", "", "PEM file with extra CA certificates to trust for the "+name)
}

func newOCIMirrorCommand(app *App) *cobra.Command {
	var o ociMirrorOptions
	cmd := &cobra.Command{
		Use:   "mirror SRC DST",
		Short: "Copy repositories to another registry, verified at the destination",
		Long: `Plan a copy of every tag of every repository (or those matching --repo) from
SRC to DST, print the plan, and with --apply copy it; then deep-check every
copied tag at DST (as oci verify does) and compare its digest with SRC's.
Without --apply nothing is written.

SRC and DST are host[:port][/prefix], optionally with http:// or https://.
A prefix maps repositories under it: mirror 127.0.0.1:5000 git.example.org/ops
copies app to ops/app (Forgejo and Gitea keep images under an owner).
--repo globs match names relative to SRC's prefix (* stops at /).

The plan: tags whose digest is the same on both sides are identical and left
alone; for the others the whole image (every platform of an index) is read
at SRC, and every blob is asked for at DST. Bytes to move count each missing
blob once for the registry; a blob another DST repository has is mounted.

The copy streams each blob from SRC and checks its digest as it passes: a
corrupt blob fails its tags and is never stored. Manifests go children
first and the tag last, so an interrupted copy never leaves a tag on a
partial image, and a rerun plans only what is still missing.

--prune also plans deleting DST tags that SRC lacks, in the mirrored
repositories only, as oci retain would (untagged children of deleted indexes
go too; a tag sharing a digest with a mirrored tag stays). The brake: when a
repository would lose more than --max-delete-share of its tags, nothing is
deleted unless --force.

Auth: --src-* and --dst-* flags; without them each side's credentials come
from the Docker config file, else anonymous.

Timeouts: --request-timeout bounds each request; a blob stream instead must
move at least one byte per --request-timeout, however long it takes in all.
--timeout bounds the whole run (exit 3 when reached; rerun to resume).`,
		Example: `  labops oci mirror http://127.0.0.1:5000 registry.example.org
  labops oci mirror old.example.org git.example.org/ops --dst-username ops --dst-password-file /run/secrets/token --apply
  labops oci mirror old.example.org new.example.org --repo 'team/*' --prune --apply --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0], args[1]) },
	}
	fs := cmd.Flags()
	fs.IntVar(&o.shared.concurrency, "concurrency", oci.DefaultConcurrency, fmt.Sprintf("requests in flight per registry, and blobs streamed at once (1-64; more than %d rarely helps)", oci.MaxUsefulConcurrency))
	fs.Float64Var(&o.shared.rate, "rate", 0, "requests per second at most, per registry (0: unlimited)")
	fs.DurationVar(&o.shared.timeout, "timeout", 6*time.Hour, "time limit for the whole run; when reached it is incomplete (exit 3)")
	fs.DurationVar(&o.shared.requestTimeout, "request-timeout", oci.DefaultRequestTimeout, "time limit for each request; for a blob stream, for each stretch without progress")
	fs.BoolVar(&o.shared.json, "json", false, "print the plan and result as JSON")
	fs.BoolVar(&o.shared.verifyDigests, "verify-digests", false, "in the check after copying, download every copied blob from DST and hash it (slow)")
	registerSide(fs, &o.src, "src", "source")
	registerSide(fs, &o.dst, "dst", "destination")
	fs.StringArrayVar(&o.repos, "repo", nil, "only repositories matching this glob, relative to SRC's prefix (repeatable; default all)")
	fs.BoolVar(&o.apply, "apply", false, "copy (and with --prune delete) what the plan says (default: dry run)")
	fs.BoolVar(&o.prune, "prune", false, "plan deleting DST tags that SRC no longer has, in the mirrored repositories")
	fs.BoolVar(&o.force, "force", false, "with --prune: release the brake")
	fs.Float64Var(&o.maxShare, "max-delete-share", oci.DefaultMaxDeleteShare, "with --prune, the brake: the largest share of a repository's tags a prune may delete")
	fs.IntVar(&o.pageSize, "page-size", oci.DefaultPageSize, "entries per catalog and tag list page (n=)")
	return cmd
}

// side validates one side's flags and builds its endpoint and client.
func (o *ociMirrorOptions) side(cmd *cobra.Command, app *App, f *ociFlags, name, arg string) (oci.MirrorEndpoint, *oci.Client, error) {
	f.concurrency, f.rate, f.requestTimeout, f.timeout = o.shared.concurrency, o.shared.rate, o.shared.requestTimeout, o.shared.timeout
	f.depth = "blobs"
	if _, err := f.validate(cmd); err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			ee.Err = fmt.Errorf("%s: %w", name, ee.Err)
		}
		return oci.MirrorEndpoint{}, nil, err
	}
	ep, err := oci.ParseMirrorEndpoint(arg, f.plainHTTP)
	if err != nil {
		return oci.MirrorEndpoint{}, nil, usageErrorf(cmd, "%s: %v", name, err)
	}
	c, err := f.client(cmd, app, ep.Registry)
	return ep, c, err
}

func (o *ociMirrorOptions) run(cmd *cobra.Command, app *App, srcArg, dstArg string) error {
	for _, pat := range o.repos {
		if err := oci.ValidPattern(pat); err != nil {
			return usageErrorf(cmd, "--repo: %v", err)
		}
	}
	switch {
	case o.maxShare <= 0 || o.maxShare > 1:
		return usageErrorf(cmd, "--max-delete-share %v: valid is more than 0 and at most 1", o.maxShare)
	case !o.prune && (o.force || cmd.Flags().Changed("max-delete-share")):
		return usageErrorf(cmd, "--force and --max-delete-share go with --prune")
	case o.pageSize < 1:
		return usageErrorf(cmd, "--page-size %d: valid is 1 or more", o.pageSize)
	}
	srcEP, src, err := o.side(cmd, app, &o.src, "SRC", srcArg)
	if err != nil {
		return err
	}
	dstEP, dst, err := o.side(cmd, app, &o.dst, "DST", dstArg)
	if err != nil {
		return err
	}
	if srcEP == dstEP {
		return usageErrorf(cmd, "SRC and DST are the same place")
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.shared.timeout)
	defer cancel()
	prog := newProgressLine(app.Stderr)
	res := oci.Mirror(ctx, src, dst, oci.MirrorOptions{
		Source: srcEP, Destination: dstEP,
		Repos: o.repos, Apply: o.apply,
		Prune: o.prune, MaxDeleteShare: o.maxShare, Force: o.force,
		Streams: o.shared.concurrency, PageSize: o.pageSize, VerifyDigests: o.shared.verifyDigests,
		Progress: prog.mirror,
		Logger:   app.Logger,
	})
	prog.clear()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && res.Status == job.StatusIncomplete {
		res.Error = fmt.Sprintf("--timeout %v reached (run again to resume): %s", o.shared.timeout, res.Error)
	}
	return app.printReport(res, o.shared.json, res.Status, "the mirror is incomplete", res.Error)
}

// mirror draws the mirror's progress; like update, only on a terminal.
func (p *progressLine) mirror(pr oci.MirrorProgress) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.used = true
	switch pr.Phase {
	case "planning":
		fmt.Fprintf(p.w, "\r\033[Kplanning: %d/%d repositories, %d requests", pr.ReposDone, pr.Repos, pr.Requests)
	default:
		fmt.Fprintf(p.w, "\r\033[K%s: %d/%d tags, %d bytes moved, %d requests", pr.Phase, pr.TagsDone, pr.TagsToCopy, pr.BytesMoved, pr.Requests)
	}
}
