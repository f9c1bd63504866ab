package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/labops/labops/internal/atomicfile"
	"github.com/labops/labops/internal/job"
)

// Options are what Run, Verify and Restore share.
type Options struct {
	Spec Spec
	// Prune applies the retention plan after each new dump is checked;
	// false only prints it.
	Prune  bool
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewDriver builds a server's driver; nil means NewDriver.
	NewDriver func(ServerSpec) (Driver, error)
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o Options) driver(sv ServerSpec) (Driver, error) {
	if o.NewDriver != nil {
		return o.NewDriver(sv)
	}
	return NewDriver(sv)
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// DBReport is the outcome for one database.
type DBReport struct {
	Server   string  `json:"server"`
	Database string  `json:"database"`
	Path     string  `json:"path,omitempty"`
	Size     int64   `json:"size_bytes,omitempty"`
	Duration float64 `json:"duration_seconds,omitempty"`
	Tables   int     `json:"tables,omitempty"`
	Error    string  `json:"error,omitempty"`
	// Finished is when the dump was complete and checked (zero on failure).
	Finished time.Time `json:"finished,omitzero"`
	Plan     *Plan     `json:"plan,omitempty"`
	// Pruned is what was deleted: the plan's dumps and temp files of dumps
	// older than a day (left by a run that was killed).
	Pruned     []string `json:"pruned,omitempty"`
	PruneError string   `json:"prune_error,omitempty"`
}

// RunReport is what one backup run did.
type RunReport struct {
	Status    job.Status    `json:"status"`
	Databases []DBReport    `json:"databases"`
	Findings  []job.Finding `json:"findings,omitempty"`
}

type task struct {
	sv   ServerSpec
	d    Driver
	info ServerInfo
	db   string
}

// Run dumps every selected database of every server, at most
// Spec.Parallel at a time. A database that fails is a finding and the
// others still run; a server that cannot be reached makes the run
// incomplete.
func Run(ctx context.Context, o Options) RunReport {
	rep := RunReport{Status: job.StatusOK}
	log := o.logger()
	stamp := o.now().UTC().Truncate(time.Millisecond)
	var tasks []task
	for _, sv := range o.Spec.Servers {
		d, err := o.driver(sv)
		if err != nil {
			rep.fail(job.StatusIncomplete, "server-unreachable", sv.Name, err)
			continue
		}
		defer d.Close()
		info, err := d.Info(ctx)
		if err != nil {
			rep.fail(job.StatusIncomplete, "server-unreachable", sv.Name, err)
			continue
		}
		dbs, err := d.Databases(ctx)
		if err != nil {
			rep.fail(job.StatusIncomplete, "server-unreachable", sv.Name, err)
			continue
		}
		log.Info("backing up", "server", sv.Name, "flavor", info.Flavor, "version", info.ServerVersion, "databases", len(dbs))
		for _, db := range dbs {
			if strings.HasPrefix(db, o.Spec.scratchPrefix()) {
				continue // a verify's scratch copy, left by a verify that was killed
			}
			tasks = append(tasks, task{sv: sv, d: d, info: info, db: db})
		}
	}
	results := make([]DBReport, len(tasks))
	sem := make(chan struct{}, o.Spec.parallel())
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = dumpOne(ctx, o, t, stamp)
		}()
	}
	wg.Wait()
	for _, r := range results {
		subject := r.Server + "/" + r.Database
		switch {
		case r.Error != "":
			rep.fail(job.StatusFailed, "dump-failed", subject, errors.New(r.Error))
			log.Error("dump failed", "server", r.Server, "database", r.Database, "err", r.Error)
		case r.PruneError != "":
			rep.fail(job.StatusFailed, "prune-failed", subject, errors.New(r.PruneError))
		default:
			log.Info("dumped", "server", r.Server, "database", r.Database, "size", r.Size, "duration", r.Duration, "pruned", len(r.Pruned))
		}
		rep.Databases = append(rep.Databases, r)
	}
	return rep
}

func (r *RunReport) fail(st job.Status, kind, subject string, err error) {
	r.Status = job.Worst(r.Status, st)
	r.Findings = append(r.Findings, job.Finding{Kind: kind, Subject: subject, Message: err.Error()})
}

// dumpOne writes one database's dump through a temp file, then its
// manifest and sidecar, renames the dump into place last, reads it back
// against the checksum, and only then plans (and maybe applies) retention.
// Nothing of an earlier dump is touched when anything fails.
func dumpOne(ctx context.Context, o Options, t task, stamp time.Time) DBReport {
	r := DBReport{Server: t.sv.Name, Database: t.db}
	start := time.Now()
	path, m, err := writeDump(ctx, o.Spec.Root, t, stamp)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Path, r.Size, r.Tables = path, m.Size, len(m.Tables)
	if _, err := CheckDump(path); err != nil {
		r.Error = "the new dump does not match its checksum: " + err.Error()
		return r
	}
	r.Duration = time.Since(start).Seconds()
	r.Finished = o.now()
	dumps, err := ListDumps(filepath.Dir(path))
	if err != nil {
		r.PruneError = err.Error()
		return r
	}
	plan := PlanRetention(dumps, o.Spec.Retention.Policy())
	r.Plan = &plan
	if !o.Prune {
		return r
	}
	stale, err := removeStaleTemps(filepath.Dir(path), time.Now())
	r.Pruned = append(r.Pruned, stale...)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, d := range plan.Delete {
		if d.Path == path {
			continue // never: the newest is always kept; belt and braces
		}
		if err := removeDump(d.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		r.Pruned = append(r.Pruned, d.Path)
	}
	if err := errors.Join(errs...); err != nil {
		r.PruneError = err.Error()
	}
	return r
}

func writeDump(ctx context.Context, root string, t task, stamp time.Time) (string, Manifest, error) {
	dir := Dir(root, t.sv.Name, t.db)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", Manifest{}, err
	}
	name := stamp.Format(TimeFormat) + "." + t.d.Ext()
	final := filepath.Join(dir, name)
	if _, err := os.Lstat(final); err == nil {
		return "", Manifest{}, fmt.Errorf("%s already exists: not replacing a dump", final)
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", Manifest{}, err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	start := time.Now()
	// The dump tool gets the file itself: exec hands it the descriptor, so
	// the dump goes to disk without a pipe through labops (mariadb-dump
	// writes 4 KiB at a time; copying that cost more than the dump tool).
	counts, err := t.d.Dump(ctx, t.db, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", Manifest{}, fmt.Errorf("dumping %s/%s: %w", t.sv.Name, t.db, err)
	}
	sum, size, err := fileSHA256(f.Name())
	if err != nil {
		return "", Manifest{}, fmt.Errorf("checksumming the dump of %s/%s: %w", t.sv.Name, t.db, err)
	}
	m := Manifest{
		Format: ManifestFormat, Server: t.sv.Name, Database: t.db, ServerInfo: t.info,
		Started: stamp, Duration: time.Since(start).Seconds(), Size: size,
		SHA256: sum, Tables: counts,
	}
	if m.Tables == nil {
		m.Tables = map[string]int64{}
	}
	mb, err := m.Marshal()
	if err != nil {
		return "", Manifest{}, err
	}
	if err := atomicfile.Write(final+".json", mb); err != nil {
		return "", Manifest{}, fmt.Errorf("writing manifest: %w", err)
	}
	if err := atomicfile.Write(final+".sha256", sidecar(m.SHA256, name)); err != nil {
		return "", Manifest{}, fmt.Errorf("writing checksum: %w", err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return "", Manifest{}, err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return "", Manifest{}, err
	}
	return final, m, nil
}
