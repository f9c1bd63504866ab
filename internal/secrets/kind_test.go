package secrets

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/job"
)

func TestKindMetrics(t *testing.T) {
	t.Parallel()
	hook := &fakeHook{}
	srv := hook.start(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	spec := Spec{StateDir: filepath.Join(dir, "state"), Source: Source{File: &FileSource{PasswordFile: pw}},
		Sinks: []Sink{{Name: "hook", HTTP: &HTTPSinkSpec{URL: srv.URL, Body: "{{.Password}}"}}}}
	reg := prometheus.NewPedanticRegistry()
	now := time.Unix(1_780_000_000, 0)
	j, err := Kind().New(func(v any) error { *(v.(*Spec)) = spec; return nil },
		job.Deps{Name: "pw-sync", Registerer: reg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if res := j.Run(context.Background(), log); res.Status != job.StatusOK {
		t.Fatalf("first run: %+v", res)
	}
	// No ttl from a file: no rotation time is exported.
	want := `
# HELP labops_secret_sync_failures Sinks whose push or verification failed in the last sync.
# TYPE labops_secret_sync_failures gauge
labops_secret_sync_failures 0
# HELP labops_secret_sync_last_success_timestamp_seconds When every sink last held the current credential and passed verification (Unix time).
# TYPE labops_secret_sync_last_success_timestamp_seconds gauge
labops_secret_sync_last_success_timestamp_seconds 1.78e+09
# HELP labops_secret_sync_pushed Sinks that got a new value in the last sync.
# TYPE labops_secret_sync_pushed gauge
labops_secret_sync_pushed 1
# HELP labops_secret_sync_sinks Consumers (sinks) the secret-sync job keeps in sync.
# TYPE labops_secret_sync_sinks gauge
labops_secret_sync_sinks 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// The source breaks: the run is incomplete and the last success stays.
	os.Remove(pw)
	now = now.Add(time.Hour)
	res := j.Run(context.Background(), log)
	if res.Status != job.StatusIncomplete || !strings.Contains(res.Error, "reading the source") {
		t.Fatalf("run without source: %+v", res)
	}
	if got := gaugeValue(t, reg, "labops_secret_sync_last_success_timestamp_seconds"); got != 1.78e9 {
		t.Errorf("last success moved to %v on a failed run", got)
	}
}

// gaugeValue is the value of reg's one series named name.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}

func TestStateKeyAndHashes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := OpenState(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenState(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := Credential{Username: "u", Password: NewSecret("p")}
	if a.Hash("j", "s", c) != b.Hash("j", "s", c) {
		t.Error("the key is not kept between runs")
	}
	other, _ := OpenState(t.TempDir())
	if other.Hash("j", "s", c) == a.Hash("j", "s", c) {
		t.Error("two state dirs hash alike: the hash is not keyed")
	}
	if a.Hash("j", "s", c) == a.Hash("j", "s2", c) || a.Hash("j", "s", c) == a.Hash("j", "s", Credential{Username: "u", Password: NewSecret("q")}) {
		t.Error("hash ignores the sink or the password")
	}
	fi, _ := os.Stat(filepath.Join(dir, keyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode())
	}
	os.WriteFile(filepath.Join(dir, keyFile), []byte("short"), 0o600)
	if _, err := OpenState(dir); err == nil || !strings.Contains(err.Error(), "want 32") {
		t.Errorf("damaged key: %v", err)
	}
	if _, err := a.Load("../etc"); err == nil {
		t.Error("a job name escaping the state dir was accepted")
	}
}

// A dry run reads the source, says which sinks would get the value, and
// changes nothing: no push, no state dir created, no hash stored.
func TestDryRun(t *testing.T) {
	t.Parallel()
	hook := &fakeHook{}
	srv := hook.start(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	spec := Spec{StateDir: state, Source: Source{File: &FileSource{PasswordFile: tokenFile(t, "pw")}},
		Sinks: []Sink{{Name: "hook", HTTP: &HTTPSinkSpec{URL: srv.URL, Body: "{{.Password}}"}}}}
	sync := func(dry bool) *Report {
		sy, err := spec.Syncer("j")
		if err != nil {
			t.Fatal(err)
		}
		sy.DryRun = dry
		return sy.Run(t.Context())
	}
	if rep := sync(true); rep.Error != "" || rep.Sinks[0].Action != ActionWouldPush || len(hook.bodies) != 0 {
		t.Errorf("dry run before any sync: %+v, %d pushes", rep, len(hook.bodies))
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("a dry run created the state dir")
	}
	if rep := sync(false); rep.Sinks[0].Action != ActionPushed {
		t.Fatalf("sync: %+v", rep.Sinks)
	}
	if rep := sync(true); rep.Sinks[0].Action != ActionUnchanged || len(hook.bodies) != 1 {
		t.Errorf("dry run after the sync: %+v, %d pushes", rep.Sinks, len(hook.bodies))
	}
	os.WriteFile(spec.Source.File.PasswordFile, []byte("rotated"), 0o600)
	if rep := sync(true); rep.Sinks[0].Action != ActionWouldPush || len(hook.bodies) != 1 {
		t.Errorf("dry run after a rotation: %+v, %d pushes", rep.Sinks, len(hook.bodies))
	}
	if rep := sync(false); rep.Sinks[0].Action != ActionPushed {
		t.Errorf("the dry run stored the new hash: %+v", rep.Sinks)
	}
}

// A sink taken out of the config loses its hash: added back later, it is
// pushed again rather than trusted from what it held back then.
func TestRemovedSinkForgotten(t *testing.T) {
	t.Parallel()
	hook := &fakeHook{}
	srv := hook.start(t)
	spec := Spec{StateDir: t.TempDir(), Source: Source{File: &FileSource{PasswordFile: tokenFile(t, "pw")}},
		Sinks: []Sink{{Name: "a", HTTP: &HTTPSinkSpec{URL: srv.URL, Body: "{{.Password}}"}}, {Name: "b", HTTP: &HTTPSinkSpec{URL: srv.URL, Body: "{{.Password}}"}}}}
	sync := func(sinks ...Sink) *Report {
		s := spec
		s.Sinks = sinks
		sy, err := s.Syncer("j")
		if err != nil {
			t.Fatal(err)
		}
		return sy.Run(t.Context())
	}
	a, b := spec.Sinks[0], spec.Sinks[1]
	sync(a, b)
	sync(a)
	if rep := sync(a, b); rep.Sinks[1].Action != ActionPushed {
		t.Errorf("sink b added back: %s, want pushed", rep.Sinks[1].Action)
	}
}

// A sink pointed at another consumer under the same name is pushed again:
// its hash covers where it delivers, not only its name.
func TestRetargetedSinkPushedAgain(t *testing.T) {
	t.Parallel()
	first, second := &fakeHook{}, &fakeHook{}
	one, two := first.start(t), second.start(t)
	spec := Spec{StateDir: t.TempDir(), Source: Source{File: &FileSource{PasswordFile: tokenFile(t, "pw")}},
		Sinks: []Sink{{Name: "hook", HTTP: &HTTPSinkSpec{URL: one.URL, Body: "{{.Password}}"}}}}
	run := func() *Report {
		sy, err := spec.Syncer("j")
		if err != nil {
			t.Fatal(err)
		}
		return sy.Run(t.Context())
	}
	run()
	spec.Sinks[0].HTTP = &HTTPSinkSpec{URL: two.URL, Body: "{{.Password}}"}
	if rep := run(); rep.Sinks[0].Action != ActionPushed || len(second.bodies) != 1 {
		t.Errorf("after moving the sink: %s, the new consumer got %d pushes", rep.Sinks[0].Action, len(second.bodies))
	}
}
