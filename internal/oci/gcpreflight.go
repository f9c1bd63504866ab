package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/labops/labops/internal/job"
)

// ErrRegistryConfig means the registry's config file cannot be used: not
// readable, not YAML, or its storage is not the filesystem driver.
var ErrRegistryConfig = errors.New("unusable registry config")

// DefaultRegistryRoot is registry:2's storage.filesystem.rootdirectory
// when its config does not say.
const DefaultRegistryRoot = "/var/lib/registry"

// rootEnv overrides the config's storage.filesystem.rootdirectory, for
// the registry and its collector alike.
const rootEnv = "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"

// RegistryStorageRoot returns the filesystem storage root a registry:2
// config (YAML) names. The registry lets REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY
// override the file, and so does this, through getenv. The file is
// untrusted input: errors wrap ErrRegistryConfig.
func RegistryStorageRoot(config []byte, getenv func(string) string) (string, error) {
	var c struct {
		Storage map[string]yaml.Node `yaml:"storage"`
	}
	if err := yaml.Unmarshal(config, &c); err != nil {
		return "", fmt.Errorf("%w: %w", ErrRegistryConfig, err)
	}
	var drivers []string
	for k := range c.Storage {
		switch k {
		case "cache", "delete", "maintenance", "redirect", "tag":
		default:
			drivers = append(drivers, k)
		}
	}
	slices.Sort(drivers)
	if env := getenv(rootEnv); env != "" {
		return env, nil
	}
	switch {
	case len(drivers) == 0:
		return "", fmt.Errorf("%w: no storage driver configured", ErrRegistryConfig)
	case len(drivers) > 1 || drivers[0] != "filesystem":
		return "", fmt.Errorf("%w: storage driver %s: only the filesystem driver can be scanned", ErrRegistryConfig, strings.Join(drivers, ", "))
	}
	node := c.Storage["filesystem"]
	var fsc struct {
		RootDirectory string `yaml:"rootdirectory"`
	}
	if node.Kind != 0 && node.Tag != "!!null" {
		if err := node.Decode(&fsc); err != nil {
			return "", fmt.Errorf("%w: storage.filesystem: %w", ErrRegistryConfig, err)
		}
	}
	if fsc.RootDirectory == "" {
		return DefaultRegistryRoot, nil
	}
	return fsc.RootDirectory, nil
}

// GCPreflightOptions configure GCPreflight.
type GCPreflightOptions struct {
	// Flags are the collector flags the operator intends, e.g.
	// "--delete-untagged"; --dry-run is always added.
	Flags []string
	// RegistryBin is the registry binary (default: docker-registry, else
	// registry, from PATH).
	RegistryBin string
	Scan        ScanOptions
	Getenv      func(string) string
	Logger      *slog.Logger
}

// LostImage is a tagged image the collection would break, with the
// digests of it that are on the collector's list.
type LostImage struct {
	Repo      string   `json:"repository"`
	Tag       string   `json:"tag"`
	Digest    string   `json:"digest"`
	Manifests []string `json:"manifests,omitempty"` // revision links the collector deletes
	Blobs     []string `json:"blobs,omitempty"`     // blobs the collector deletes
}

// GCPreflightReport is the verdict on one intended collection.
type GCPreflightReport struct {
	Config     string      `json:"config"`
	Root       string      `json:"storage_root"`
	Command    []string    `json:"command"`
	Status     job.Status  `json:"status"`
	Error      string      `json:"error,omitempty"`
	Lost       []LostImage `json:"would_break"`
	Plan       *GCPlan     `json:"plan,omitempty"`
	FreedBytes int64       `json:"freed_bytes"`
	// Scan is the storage scan's summary: what every tag reaches.
	Scan     ScanSummary   `json:"scan"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
}

// GCPreflight runs the registry's own `garbage-collect --dry-run [flags]
// CONFIG`, scans the storage CONFIG names (at the same time: both only
// read), and fails the collection when anything a tag reaches is on its
// list. The error is non-nil only for bad input: an unusable config
// (wrapping ErrRegistryConfig), a root that is not storage (wrapping
// ErrNotStorageRoot), or no registry binary; anything else that stops the
// verdict makes the report incomplete. A relative rootdirectory is taken
// from the current directory, as the registry run from here would.
func GCPreflight(ctx context.Context, config string, opts GCPreflightOptions) (*GCPreflightReport, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	rep := &GCPreflightReport{Config: config, Started: start, Lost: []LostImage{}}
	done := func(err error) (*GCPreflightReport, error) {
		rep.Duration = time.Since(start)
		if rep.Status == "" {
			rep.Status = job.StatusIncomplete
		}
		return rep, err
	}
	raw, err := os.ReadFile(config)
	if err != nil {
		rep.Error = fmt.Sprintf("reading registry config: %v", err)
		return done(fmt.Errorf("%w: %w", ErrRegistryConfig, err))
	}
	root, err := RegistryStorageRoot(raw, opts.Getenv)
	if err != nil {
		rep.Error = fmt.Sprintf("%s: %v", config, err)
		return done(fmt.Errorf("%s: %w", config, err))
	}
	rep.Root = root
	bin, err := registryBinary(opts.RegistryBin)
	if err != nil {
		rep.Error = err.Error()
		return done(err)
	}
	rep.Command = append(append([]string{bin, "garbage-collect", "--dry-run"}, opts.Flags...), config)

	var (
		wg             sync.WaitGroup
		scan           *ScanReport
		scanErr        error
		stdout, stderr bytes.Buffer
		runErr         error
	)
	wg.Go(func() { scan, scanErr = Scan(ctx, root, opts.Scan) })
	wg.Go(func() {
		cmd := exec.CommandContext(ctx, bin, rep.Command[1:]...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		// The collector must see the root the scan sees.
		if v := opts.Getenv(rootEnv); v != "" {
			cmd.Env = append(os.Environ(), rootEnv+"="+v)
		}
		runErr = cmd.Run()
	})
	wg.Wait()
	if scanErr != nil {
		rep.Error = scanErr.Error()
		return done(fmt.Errorf("%s: storage.filesystem.rootdirectory: %w", config, scanErr))
	}
	rep.Scan = scan.Summary
	if runErr != nil {
		rep.Error = fmt.Sprintf("%s failed: %v: %s", strings.Join(rep.Command, " "), runErr, tail(stderr.String()+stdout.String(), 600))
		return done(nil)
	}
	if scan.Status == job.StatusIncomplete {
		rep.Error = "the storage scan is incomplete, so what tags reach is not known: " + scan.Error
		return done(nil)
	}
	plan, err := ParseGCOutput(stdout.Bytes())
	if err != nil {
		rep.Error = err.Error()
		return done(nil)
	}
	rep.Plan = plan
	rep.Lost = judge(scan, plan)
	for _, d := range plan.Blobs {
		rep.FreedBytes += scan.blobs[d].size
	}
	rep.Status = job.StatusOK
	if len(rep.Lost) > 0 {
		rep.Status = job.StatusFailed
	}
	opts.Logger.Debug("gc preflight done", "config", config, "manifests", len(plan.Manifests), "blobs", len(plan.Blobs), "would_break", len(rep.Lost))
	return done(nil)
}

// judge returns every tagged image that loses a revision link or a blob
// to the plan.
func judge(scan *ScanReport, plan *GCPlan) []LostImage {
	blobs := map[string]bool{}
	for _, d := range plan.Blobs {
		blobs[d] = true
	}
	manifests := map[[2]string]bool{}
	for _, m := range plan.Manifests {
		manifests[[2]string{m.Repo, m.Digest}] = true
	}
	lost := []LostImage{}
	for _, tr := range scan.reach {
		li := LostImage{Repo: tr.repo, Tag: tr.tag}
		if len(tr.manifests) > 0 {
			li.Digest = tr.manifests[0]
		}
		for _, d := range dedupe(tr.manifests) {
			if manifests[[2]string{tr.repo, d}] {
				li.Manifests = append(li.Manifests, d)
			}
		}
		for _, d := range dedupe(append(slices.Clone(tr.manifests), tr.blobs...)) {
			if blobs[d] {
				li.Blobs = append(li.Blobs, d)
			}
		}
		if len(li.Manifests)+len(li.Blobs) > 0 {
			lost = append(lost, li)
		}
	}
	return lost
}

// registryBinary finds the registry binary: the one given, else
// docker-registry (Debian's name), else registry (upstream's).
func registryBinary(bin string) (string, error) {
	if bin != "" {
		p, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("--registry-bin %s: %w", bin, err)
		}
		return p, nil
	}
	for _, name := range []string{"docker-registry", "registry"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no registry binary in PATH (docker-registry or registry); name one with --registry-bin")
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
