package backup

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/job"
)

// fakeDriver is a Driver of function fields; unset ones succeed.
type fakeDriver struct {
	dump    func(db string, w io.Writer) (map[string]int64, error)
	restore func(file, db string) error
	tables  func(db string) (map[string]int64, error)
	dbs     []string // default a, b, c
}

func (f *fakeDriver) Info(context.Context) (ServerInfo, error) {
	return ServerInfo{Flavor: "fake", ServerVersion: "1", Tool: "fakedump", ToolVersion: "1"}, nil
}
func (f *fakeDriver) Databases(context.Context) ([]string, error) {
	return []string{"a", "b", "c"}, nil
}
func (f *fakeDriver) Dump(_ context.Context, db string, w io.Writer) (map[string]int64, error) {
	return f.dump(db, w)
}
func (f *fakeDriver) Tables(_ context.Context, db string) (map[string]int64, error) {
	return f.tables(db)
}
func (f *fakeDriver) QueryInt(context.Context, string, string) (int64, error) { return 1, nil }
func (f *fakeDriver) Create(context.Context, string) error                    { return nil }
func (f *fakeDriver) Drop(context.Context, string) error                      { return nil }
func (f *fakeDriver) Restore(_ context.Context, file, db string) error {
	return f.restore(file, db)
}
func (f *fakeDriver) Ext() string  { return "fake" }
func (f *fakeDriver) Close() error { return nil }

func TestKindsMetricsAndFindings(t *testing.T) {
	t.Parallel()
	fd := &fakeDriver{
		dump: func(db string, w io.Writer) (map[string]int64, error) {
			if db == "b" {
				w.Write([]byte("half a dump"))
				return nil, errors.New("fakedump: exit status 2")
			}
			_, err := io.WriteString(w, "dump of "+db)
			return map[string]int64{"t": 3}, err
		},
		restore: func(string, string) error { return nil },
		tables:  func(string) (map[string]int64, error) { return map[string]int64{"t": 3}, nil },
	}
	spec := Spec{Root: t.TempDir(), Servers: []ServerSpec{{Name: "s", Type: TypePostgres, Host: "h", User: "u"}}}
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	decode := func(v any) error { *v.(*Spec) = spec; return nil }

	reg := prometheus.NewRegistry()
	rj, err := Kind().New(decode, job.Deps{Registerer: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	rj.(*RunJob).newDriver = func(ServerSpec) (Driver, error) { return fd, nil }
	res := rj.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Status != job.StatusFailed || len(res.Findings) != 1 || res.Findings[0].Subject != "s/b" {
		t.Fatalf("run: %s %+v", res.Status, res.Findings)
	}
	want := `
# HELP labops_backup_last_success_timestamp_seconds When the database's last dump was complete and checked against its checksum.
# TYPE labops_backup_last_success_timestamp_seconds gauge
labops_backup_last_success_timestamp_seconds{database="a",server="s"} 1.8e+09
labops_backup_last_success_timestamp_seconds{database="c",server="s"} 1.8e+09
# HELP labops_backup_size_bytes Size of the database's newest dump.
# TYPE labops_backup_size_bytes gauge
labops_backup_size_bytes{database="a",server="s"} 9
labops_backup_size_bytes{database="c",server="s"} 9
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "labops_backup_last_success_timestamp_seconds", "labops_backup_size_bytes"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "labops_backup_duration_seconds"); n != 2 {
		t.Errorf("duration series: %d, want 2", n)
	}
	// b left nothing behind: no temp file, no directory content.
	if d, _ := ListDumps(Dir(spec.Root, "s", "b")); len(d) != 0 {
		t.Errorf("b has dumps: %v", d)
	}

	// c restores short: its scratch database has a row missing.
	var mu sync.Mutex
	restoredFrom := map[string]string{}
	fd.restore = func(file, db string) error {
		mu.Lock()
		defer mu.Unlock()
		restoredFrom[db] = file
		return nil
	}
	fd.tables = func(db string) (map[string]int64, error) {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(restoredFrom[db], "/c/") {
			return map[string]int64{"t": 2}, nil
		}
		return map[string]int64{"t": 3}, nil
	}
	vreg := prometheus.NewRegistry()
	vj, err := VerifyKind().New(decode, job.Deps{Registerer: vreg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	vj.(*VerifyJob).newDriver = func(ServerSpec) (Driver, error) { return fd, nil }
	res = vj.Run(t.Context(), slog.New(slog.DiscardHandler))
	// b never had a good dump: that is a finding too.
	if res.Status != job.StatusFailed || len(res.Findings) != 2 || res.Findings[0].Subject != "s/b" || res.Findings[1].Subject != "s/c" {
		t.Fatalf("verify: %s %+v", res.Status, res.Findings)
	}
	want = `
# HELP labops_backup_verified 1 if the database's newest dump restored and matched its manifest at the last verify, else 0.
# TYPE labops_backup_verified gauge
labops_backup_verified{database="a",server="s"} 1
labops_backup_verified{database="b",server="s"} 0
labops_backup_verified{database="c",server="s"} 0
`
	if err := testutil.GatherAndCompare(vreg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestUnreachableServerIsIncomplete(t *testing.T) {
	t.Parallel()
	fd := &fakeDriver{dump: func(db string, w io.Writer) (map[string]int64, error) {
		_, err := io.WriteString(w, db)
		return map[string]int64{}, err
	}, dbs: []string{"a", "b", "labops_verify_0a1b2c3d4e5f", "c"}}
	spec := Spec{Root: t.TempDir(), Servers: []ServerSpec{
		{Name: "down", Type: TypePostgres, Host: "h", User: "u"},
		{Name: "up", Type: TypeMySQL, Host: "h", User: "u"},
	}}
	rep := Run(t.Context(), Options{Spec: spec, NewDriver: func(sv ServerSpec) (Driver, error) {
		if sv.Name == "down" {
			return nil, errors.New("connection refused")
		}
		return fd, nil
	}})
	if rep.Status != job.StatusIncomplete || len(rep.Findings) != 1 || rep.Findings[0].Kind != "server-unreachable" {
		t.Fatalf("status %s findings %+v", rep.Status, rep.Findings)
	}
	if len(rep.Databases) != 3 {
		t.Errorf("the reachable server's databases, and not a leftover scratch copy, were dumped: %+v", rep.Databases)
	}
}

func TestPruneRemovesStaleTempsOnly(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := Dir(root, "s", "a")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	old, fresh, other := filepath.Join(dir, ".20260101T000000.000Z.fake.tmp-123"), filepath.Join(dir, ".20260301T000000.000Z.fake.tmp-456"), filepath.Join(dir, ".notes.tmp-1")
	for _, p := range []string{old, fresh, other} {
		os.WriteFile(p, []byte("partial"), 0o600)
	}
	twoDaysAgo := time.Now().Add(-48 * time.Hour)
	os.Chtimes(old, twoDaysAgo, twoDaysAgo)
	os.Chtimes(other, twoDaysAgo, twoDaysAgo)
	fd := &fakeDriver{dbs: []string{"a"}, dump: func(db string, w io.Writer) (map[string]int64, error) {
		_, err := io.WriteString(w, db)
		return map[string]int64{}, err
	}}
	spec := Spec{Root: root, Servers: []ServerSpec{{Name: "s", Type: TypePostgres, Host: "h", User: "u"}}}
	rep := Run(t.Context(), Options{Spec: spec, Prune: true, NewDriver: func(ServerSpec) (Driver, error) { return fd, nil }})
	if rep.Status != job.StatusOK {
		t.Fatalf("run: %+v", rep)
	}
	for p, want := range map[string]bool{old: false, fresh: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists=%v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}
