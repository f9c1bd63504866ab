package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/oci"
)

type ociRetainOptions struct {
	ociFlags
	keep        int
	keepTags    []string
	keepYounger string
	repos       []string
	apply       bool
	force       bool
	maxShare    float64
	pageSize    int
	forgejo     string
	owner       string
	tokenFile   string
}

func newOCIRetainCommand(app *App) *cobra.Command {
	var o ociRetainOptions
	cmd := &cobra.Command{
		Use:   "retain [REGISTRY] --keep N",
		Short: "Delete old tags by a keep policy without ever breaking a kept image",
		Long: `Plan which tags to delete, print the plan, and with --apply delete them; then
check every kept tag deeply (as oci check does) and fail if any is not whole.
Without --apply nothing is deleted.

What is kept, per repository:
  - the newest N tags (--keep N), by image creation time: the backend's, else
    the "created" field of the image's config blob (an index: its newest
    child's). When a time is missing and every ranked tag is a version
    (v1.2.3, 1.2, 2.0.0-rc.1), by version instead; otherwise a tag of unknown
    age is kept. Tags kept by --keep-tag do not count against N. The plan
    says which order it used.
  - tags matching a --keep-tag pattern (default: latest; giving any replaces
    the default, so repeat latest to keep protecting it);
  - tags younger than --keep-younger-than (72h, 30d).
Patterns (--keep-tag, --repo) are globs matched against the whole name:
* matches anything but "/", ? one character, [0-9] a class.

Safety: every manifest a kept tag reaches (an index and its children) is
protected. Deleting a digest through the registry API removes every tag on
it, so a candidate tag on the digest of a kept tag is kept ("shares digest
with kept tag X"). After the tags, the untagged child manifests of deleted
indexes are deleted by digest, unless a kept index still uses them; registry:2
otherwise keeps them, and their blobs, forever. Then the registry's own plain
garbage-collect (never --delete-untagged on distribution 2.8, which breaks
every multi-arch image) reclaims the space the plan announced.

The brake: when a plan deletes more than --max-delete-share of a repository's
tags, nothing is deleted anywhere (exit 1) unless --force.

Backends: the registry API (REGISTRY, with oci check's auth and --plain-http
flags), or the Forgejo/Gitea packages API (--forgejo URL --owner NAME
--token-file F): tags are deleted by name and untagged sha256: versions no kept
tag reaches (children orphaned by earlier deletions too) are removed.`,
		Example: `  labops oci retain http://127.0.0.1:5000 --keep 10
  labops oci retain registry.example.org --keep 5 --keep-tag latest --keep-tag 'v*.*.*' --apply
  labops oci retain registry.example.org --repo 'team/*' --keep 3 --keep-younger-than 30d --json
  labops oci retain --forgejo https://git.example.org --owner ops --token-file /run/secrets/token --keep 5 --apply`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args) },
	}
	o.register(cmd.Flags())
	fs := cmd.Flags()
	fs.IntVar(&o.keep, "keep", 0, "keep the newest N tags of each repository (required)")
	fs.StringArrayVar(&o.keepTags, "keep-tag", nil, "always keep tags matching this glob (repeatable; default latest)")
	fs.StringVar(&o.keepYounger, "keep-younger-than", "", "keep tags created less than this long ago (e.g. 72h, 30d)")
	fs.StringArrayVar(&o.repos, "repo", nil, "only repositories matching this glob (repeatable; default all)")
	fs.BoolVar(&o.apply, "apply", false, "delete what the plan says (default: dry run)")
	fs.BoolVar(&o.force, "force", false, "release the brake: delete even when a repository loses more than --max-delete-share of its tags")
	fs.Float64Var(&o.maxShare, "max-delete-share", oci.DefaultMaxDeleteShare, "the brake: the largest share of a repository's tags a plan may delete")
	fs.IntVar(&o.pageSize, "page-size", oci.DefaultPageSize, "entries per catalog and tag list page (n=)")
	fs.StringVar(&o.forgejo, "forgejo", "", "Forgejo or Gitea base URL: use its packages API instead of REGISTRY")
	fs.StringVar(&o.owner, "owner", "", "with --forgejo: the user or organization whose container packages to clean")
	fs.StringVar(&o.tokenFile, "token-file", "", "with --forgejo: file holding an access token (package read and write)")
	return cmd
}

// policy validates the policy flags.
func (o *ociRetainOptions) policy(cmd *cobra.Command) (oci.RetentionPolicy, error) {
	var p oci.RetentionPolicy
	if !cmd.Flags().Changed("keep") {
		return p, usageErrorf(cmd, "--keep N is required (how many of the newest tags to keep)")
	}
	if o.keep < 0 {
		return p, usageErrorf(cmd, "--keep %d: valid is 0 or more", o.keep)
	}
	p.Default.Keep = o.keep
	if cmd.Flags().Changed("keep-tag") {
		p.Default.KeepTags = []string{}
		for _, pat := range o.keepTags {
			if err := oci.ValidPattern(pat); err != nil {
				return p, usageErrorf(cmd, "--keep-tag: %v", err)
			}
			p.Default.KeepTags = append(p.Default.KeepTags, pat)
		}
	}
	if o.keepYounger != "" {
		d, err := oci.ParseAge(o.keepYounger)
		if err != nil {
			return p, usageErrorf(cmd, "--keep-younger-than: %v", err)
		}
		p.Default.KeepYoungerThan = d
	}
	for _, pat := range o.repos {
		if err := oci.ValidPattern(pat); err != nil {
			return p, usageErrorf(cmd, "--repo: %v", err)
		}
	}
	if o.maxShare <= 0 || o.maxShare > 1 {
		return p, usageErrorf(cmd, "--max-delete-share %v: valid is more than 0 and at most 1", o.maxShare)
	}
	p.MaxDeleteShare = o.maxShare
	p.Force = o.force
	return p, nil
}

// target builds the backend and the client that reads manifests.
func (o *ociRetainOptions) target(cmd *cobra.Command, app *App, args []string) (oci.RetentionBackend, *oci.Client, error) {
	if o.pageSize < 1 {
		return nil, nil, usageErrorf(cmd, "--page-size %d: valid is 1 or more", o.pageSize)
	}
	if o.forgejo == "" {
		if len(args) != 1 {
			return nil, nil, usageErrorf(cmd, "give REGISTRY, or --forgejo URL --owner NAME --token-file F")
		}
		if o.owner != "" || o.tokenFile != "" {
			return nil, nil, usageErrorf(cmd, "--owner and --token-file go with --forgejo")
		}
		reg, err := oci.ParseRegistry(args[0], o.plainHTTP)
		if err != nil {
			return nil, nil, usageErrorf(cmd, "REGISTRY: %v", err)
		}
		c, err := o.client(cmd, app, reg)
		if err != nil {
			return nil, nil, err
		}
		return oci.NewRegistryBackend(c, o.pageSize), c, nil
	}
	switch {
	case len(args) == 1:
		return nil, nil, usageErrorf(cmd, "give REGISTRY or --forgejo, not both (Forgejo's registry is on the same host)")
	case o.owner == "":
		return nil, nil, usageErrorf(cmd, "--forgejo needs --owner NAME")
	case o.tokenFile == "":
		return nil, nil, usageErrorf(cmd, "--forgejo needs --token-file F")
	case o.username != "":
		return nil, nil, usageErrorf(cmd, "--username does not go with --forgejo: the token is the credential")
	}
	token, err := oci.ReadPasswordFile(o.tokenFile)
	if err != nil {
		return nil, nil, usageErrorf(cmd, "--token-file: %v", err)
	}
	opts := oci.Options{
		Concurrency:    o.concurrency,
		Rate:           o.rate,
		RequestTimeout: o.requestTimeout,
		CAFile:         o.caFile,
		Logger:         app.Logger,
	}
	gb, err := oci.NewGiteaBackend(o.forgejo, o.owner, token, opts)
	if err != nil {
		return nil, nil, usageErrorf(cmd, "--forgejo: %v", err)
	}
	opts.Credentials = gb.RegistryCredentials()
	c, err := oci.NewClient(gb.Registry(), opts)
	if err != nil {
		return nil, nil, usageErrorf(cmd, "%v", err)
	}
	return gb, c, nil
}

func (o *ociRetainOptions) run(cmd *cobra.Command, app *App, args []string) error {
	depth, err := o.validate(cmd)
	if err != nil {
		return err
	}
	policy, err := o.policy(cmd)
	if err != nil {
		return err
	}
	b, c, err := o.target(cmd, app, args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	prog := newProgressLine(app.Stderr)
	res := oci.Retain(ctx, b, c, oci.RetentionOptions{
		Policy:   policy,
		Repos:    o.repos,
		Apply:    o.apply,
		Check:    oci.CheckOptions{Depth: depth, VerifyDigests: o.verifyDigests, PageSize: o.pageSize, Progress: prog.update},
		Progress: prog.retain,
		Logger:   app.Logger,
	})
	prog.clear()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && res.Status == job.StatusIncomplete {
		res.Error = fmt.Sprintf("--timeout %v reached: %s", o.timeout, res.Error)
	}
	return app.printReport(res, o.json, res.Status, "retention is incomplete", res.Error)
}

// retain draws the retention's progress; like update, only on a terminal.
func (p *progressLine) retain(pr oci.RetentionProgress) {
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
	if pr.Phase == "deleting" {
		fmt.Fprintf(p.w, "\r\033[Kdeleting: %d deleted, %d requests", pr.Deleted, pr.Requests)
		return
	}
	fmt.Fprintf(p.w, "\r\033[Kreading: %d/%d repositories, %d tags, %d manifests, %d requests", pr.ReposDone, pr.Repositories, pr.Tags, pr.Manifests, pr.Requests)
}
