package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/oci"
)

func newOCICommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "oci",
		Short: "Prove registry images can be pulled; scan, retain, mirror and archive them safely",
		Long: `Commands for OCI registries (registry:2 / distribution, Forgejo and Gitea, and
any registry speaking the distribution API).

  labops oci check REGISTRY       walk every tag of every repository, proving every blob
  labops oci verify REF           the same deep check for one image (after a push)
  labops oci scan ROOT            offline check of registry:2 storage: broken images,
                                  dangling links, reclaimable bytes
  labops oci gc-preflight CONFIG  refuse a garbage collection that would break a tagged image
  labops oci retain REGISTRY      delete old tags without ever breaking a kept image
  labops oci mirror SRC DST       copy registries, resumable, checked after copying
  labops oci compare A B          same digest, or how two references differ
  labops oci archive REF          a verified break-glass tarball (OCI layout, gzipped)
  labops oci restore FILE REF     push an archive back

Anything that deletes or copies prints its plan and acts only with --apply.`,
	}
	cmd.AddCommand(
		newOCICheckCommand(app),
		newOCIVerifyCommand(app),
		newOCIScanCommand(app),
		newOCIGCPreflightCommand(app),
		newOCIRetainCommand(app),
		newOCIMirrorCommand(app),
		newOCICompareCommand(app),
		newOCIArchiveCommand(app),
		newOCIRestoreCommand(app),
	)
	return cmd
}

// ociFlags are the flags oci check and oci verify share.
type ociFlags struct {
	depth          string
	verifyDigests  bool
	concurrency    int
	rate           float64
	timeout        time.Duration
	requestTimeout time.Duration
	json           bool
	plainHTTP      bool
	username       string
	passwordFile   string
	caFile         string
}

func (f *ociFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.depth, "depth", "blobs", "how deep to check: blobs (manifests, configs and every layer) or manifests (tags, indexes and child manifests only, about a fifth of the requests)")
	fs.BoolVar(&f.verifyDigests, "verify-digests", false, "download every blob and check its size and sha256 (slow; catches corrupted data)")
	fs.IntVar(&f.concurrency, "concurrency", oci.DefaultConcurrency, fmt.Sprintf("requests in flight at most (1-64; more than %d rarely helps)", oci.MaxUsefulConcurrency))
	fs.Float64Var(&f.rate, "rate", 0, "requests per second at most (0: unlimited)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "time limit for the whole check; when reached the check is incomplete (exit 3)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", oci.DefaultRequestTimeout, "time limit for each HTTP request")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON")
	fs.BoolVar(&f.plainHTTP, "plain-http", false, "talk plain HTTP (also implied by an http:// address)")
	fs.StringVar(&f.username, "username", "", "registry username (default: from the Docker config file, else anonymous)")
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the registry password or token (needs --username)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file with extra CA certificates to trust")
}

// validate checks the flags and returns the parsed depth.
func (f *ociFlags) validate(cmd *cobra.Command) (oci.Depth, error) {
	d, err := oci.ParseDepth(f.depth)
	if err != nil {
		return "", usageErrorf(cmd, "--depth %q: valid are blobs, manifests", f.depth)
	}
	if d == oci.DepthManifests && f.verifyDigests {
		return "", usageErrorf(cmd, "--verify-digests needs --depth blobs (it downloads blobs)")
	}
	switch {
	case f.concurrency < 1 || f.concurrency > 64:
		return "", usageErrorf(cmd, "--concurrency %d: valid is 1 to 64", f.concurrency)
	case f.rate < 0:
		return "", usageErrorf(cmd, "--rate %v: valid is 0 (unlimited) or a positive number of requests per second", f.rate)
	case f.timeout <= 0:
		return "", usageErrorf(cmd, "--timeout %v: valid is a positive duration such as 10m", f.timeout)
	case f.requestTimeout <= 0:
		return "", usageErrorf(cmd, "--request-timeout %v: valid is a positive duration such as 30s", f.requestTimeout)
	case f.passwordFile != "" && f.username == "":
		return "", usageErrorf(cmd, "--password-file needs --username")
	case f.username != "" && f.passwordFile == "":
		return "", usageErrorf(cmd, "--username needs --password-file (passwords are never taken on the command line)")
	}
	return d, nil
}

// client builds the registry client: credentials from the flags, else
// the Docker config file, else anonymous.
func (f *ociFlags) client(cmd *cobra.Command, app *App, reg oci.Registry) (*oci.Client, error) {
	var creds oci.Credentials
	if f.username != "" {
		pw, err := oci.ReadPasswordFile(f.passwordFile)
		if err != nil {
			return nil, usageErrorf(cmd, "--password-file: %v", err)
		}
		creds = oci.Credentials{Username: f.username, Password: pw}
	} else {
		path := oci.DockerConfigPath(app.Getenv)
		c, found, err := oci.DockerConfigCredentials(path, reg.Host)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		if found {
			app.Logger.Debug("using credentials from the docker config", "path", path, "registry", reg.Host)
			creds = c
		}
	}
	c, err := oci.NewClient(reg, oci.Options{
		Concurrency:    f.concurrency,
		Rate:           f.rate,
		RequestTimeout: f.requestTimeout,
		Credentials:    creds,
		CAFile:         f.caFile,
		Logger:         app.Logger,
	})
	if err != nil {
		return nil, usageErrorf(cmd, "%v", err)
	}
	return c, nil
}

// run runs check within --timeout, shows progress on a terminal, prints
// the report and turns its status into the exit code.
func (f *ociFlags) run(cmd *cobra.Command, app *App, check func(ctx context.Context, opts oci.CheckOptions) *oci.Report, opts oci.CheckOptions) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	opts.Logger = app.Logger
	prog := newProgressLine(app.Stderr)
	opts.Progress = prog.update
	rep := check(ctx, opts)
	prog.clear()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && rep.Status == job.StatusIncomplete {
		rep.Error = fmt.Sprintf("--timeout %v reached before the check finished: %s", f.timeout, rep.Error)
	}
	return app.printReport(rep, f.json, rep.Status, "the check is incomplete", rep.Error)
}

// progressLine draws one self-overwriting line on a terminal, at most ten
// times a second, and nothing at all when w is not a terminal.
type progressLine struct {
	w    io.Writer
	mu   sync.Mutex
	last time.Time
	used bool
}

func newProgressLine(w io.Writer) *progressLine {
	f, ok := w.(*os.File)
	if !ok {
		return &progressLine{}
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return &progressLine{}
	}
	return &progressLine{w: w}
}

func (p *progressLine) update(pr oci.Progress) {
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
	fmt.Fprintf(p.w, "\r\033[Kchecking: %d repositories, %d/%d tags, %d broken, %d requests", pr.Repositories, pr.TagsDone, pr.TagsKnown, pr.Broken, pr.Requests)
}

func (p *progressLine) clear() {
	if p.w == nil || !p.used {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
}
