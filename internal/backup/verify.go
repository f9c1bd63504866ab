package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/labops/labops/internal/job"
)

// VerifyDB is the outcome of restoring one database's newest dump.
type VerifyDB struct {
	Server   string   `json:"server"`
	Database string   `json:"database"`
	Path     string   `json:"path,omitempty"`
	Scratch  string   `json:"scratch,omitempty"`
	Verified bool     `json:"verified"`
	Problems []string `json:"problems,omitempty"`
}

// VerifyReport is what one backup verify did.
type VerifyReport struct {
	Status    job.Status    `json:"status"`
	Databases []VerifyDB    `json:"databases"`
	Findings  []job.Finding `json:"findings,omitempty"`
}

// Databases returns the databases that have a directory under root for
// server, by their real (unescaped) names.
func Databases(root, server string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, EscapeName(server)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n, err := UnescapeName(e.Name())
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Verify restores the newest dump of every database found under the root
// into a scratch database on the server it came from, checks that the
// restore tool exits clean and that every table has the rows the manifest
// recorded, and drops the scratch database.
func Verify(ctx context.Context, o Options) VerifyReport {
	rep := VerifyReport{Status: job.StatusOK}
	type vtask struct {
		sv ServerSpec
		d  Driver
		db string
	}
	var tasks []vtask
	for _, sv := range o.Spec.Servers {
		dbs, err := Databases(o.Spec.Root, sv.Name)
		if err != nil {
			rep.add(job.StatusIncomplete, "unreadable", sv.Name, err.Error())
			continue
		}
		if len(dbs) == 0 {
			continue
		}
		d, err := o.driver(sv)
		if err != nil {
			rep.add(job.StatusIncomplete, "server-unreachable", sv.Name, err.Error())
			continue
		}
		defer d.Close()
		if _, err := d.Info(ctx); err != nil {
			rep.add(job.StatusIncomplete, "server-unreachable", sv.Name, err.Error())
			continue
		}
		for _, db := range dbs {
			tasks = append(tasks, vtask{sv, d, db})
		}
	}
	results := make([]VerifyDB, len(tasks))
	sem := make(chan struct{}, o.Spec.parallel())
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = verifyOne(ctx, o, t.d, t.sv.Name, t.db)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if !r.Verified {
			rep.add(job.StatusFailed, "verify-failed", r.Server+"/"+r.Database, strings.Join(r.Problems, "; "))
		}
		rep.Databases = append(rep.Databases, r)
	}
	return rep
}

func (r *VerifyReport) add(st job.Status, kind, subject, msg string) {
	r.Status = job.Worst(r.Status, st)
	r.Findings = append(r.Findings, job.Finding{Kind: kind, Subject: subject, Message: msg})
}

// Newest returns the newest complete dump of server/db under root.
func Newest(root, server, db string) (DumpFile, error) {
	dumps, err := ListDumps(Dir(root, server, db))
	if err != nil {
		return DumpFile{}, err
	}
	if len(dumps) == 0 {
		return DumpFile{}, fmt.Errorf("no complete dump of %s/%s under %s", server, db, root)
	}
	return dumps[len(dumps)-1], nil
}

func verifyOne(ctx context.Context, o Options, d Driver, server, db string) VerifyDB {
	r := VerifyDB{Server: server, Database: db}
	problem := func(format string, args ...any) VerifyDB {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		return r
	}
	newest, err := Newest(o.Spec.Root, server, db)
	if err != nil {
		return problem("%v", err)
	}
	r.Path = newest.Path
	m, err := CheckDump(newest.Path)
	if err != nil {
		return problem("%v", err)
	}
	r.Scratch = o.Spec.scratchPrefix() + randomHex()
	if err := d.Create(ctx, r.Scratch); err != nil {
		return problem("%v", err)
	}
	defer func() {
		if err := d.Drop(context.WithoutCancel(ctx), r.Scratch); err != nil {
			r.Problems = append(r.Problems, err.Error())
			r.Verified = false
		}
	}()
	if err := d.Restore(ctx, newest.Path, r.Scratch); err != nil {
		return problem("restoring %s: %v", newest.Path, err)
	}
	got, err := d.Tables(ctx, r.Scratch)
	if err != nil {
		return problem("counting restored rows: %v", err)
	}
	r.Problems = append(r.Problems, CompareTables(m.Tables, got)...)
	for _, sn := range o.Spec.Verify.Sentinels {
		if sn.Server != server || sn.Database != db {
			continue
		}
		n, err := d.QueryInt(ctx, r.Scratch, sn.Query)
		switch {
		case err != nil:
			r.Problems = append(r.Problems, fmt.Sprintf("sentinel %q: %v", sn.Query, err))
		case n < sn.Min:
			r.Problems = append(r.Problems, fmt.Sprintf("sentinel %q returned %d, want at least %d", sn.Query, n, sn.Min))
		}
	}
	r.Verified = len(r.Problems) == 0
	return r
}

// CompareTables lists how got (restored) differs from want (the manifest).
func CompareTables(want, got map[string]int64) []string {
	var out []string
	for t, n := range want {
		g, ok := got[t]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("table %s is missing after restore", t))
		case g != n:
			out = append(out, fmt.Sprintf("table %s has %d rows after restore, %d at dump time", t, g, n))
		}
	}
	for t := range got {
		if _, ok := want[t]; !ok {
			out = append(out, fmt.Sprintf("table %s was not in the dump's manifest", t))
		}
	}
	sort.Strings(out)
	return out
}

func randomHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RestoreDB restores the newest dump of server/db into a new database to,
// after checking its checksum. It refuses a target that exists.
func RestoreDB(ctx context.Context, o Options, server, db, to string) (DumpFile, error) {
	var sv *ServerSpec
	for i := range o.Spec.Servers {
		if o.Spec.Servers[i].Name == server {
			sv = &o.Spec.Servers[i]
		}
	}
	if sv == nil {
		return DumpFile{}, fmt.Errorf("no server named %q", server)
	}
	newest, err := Newest(o.Spec.Root, server, db)
	if err != nil {
		return DumpFile{}, err
	}
	if _, err := CheckDump(newest.Path); err != nil {
		return newest, err
	}
	d, err := o.driver(*sv)
	if err != nil {
		return newest, err
	}
	defer d.Close()
	if err := d.Create(ctx, to); err != nil {
		return newest, fmt.Errorf("%w (restore never writes into an existing database)", err)
	}
	if err := d.Restore(ctx, newest.Path, to); err != nil {
		return newest, fmt.Errorf("restoring %s into %q: %w", newest.Path, to, err)
	}
	return newest, nil
}
