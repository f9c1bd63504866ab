package secrets

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/labtest"
)

// rig is a rotated MariaDB user and its three consumers: a Technitium
// query-log app whose connection string holds the password, a Grafana
// datasource whose health check logs in with it, and a webhook.
type rig struct {
	db         *labtest.MariaDB
	root       *sql.DB
	vault      *fakeVault
	technitium *fakeTechnitium
	grafana    *fakeGrafana
	hook       *fakeHook
	spec       Spec
	logs       bytes.Buffer
	dir        string
}

// Passwords with the characters that break naive connection-string edits.
const (
	pw1 = `Init-pw1;Uid=evil"x'`
	pw2 = `Rot=pw2 "q" ;x`
	pw3 = `third-PW3-@#%`
)

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{db: labtest.StartMariaDB(t), dir: t.TempDir()}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.InterpolateParams = "unix", r.db.Socket, "root", true
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.root = sql.OpenDB(c)
	t.Cleanup(func() { r.root.Close() })
	if _, err := r.root.Exec("CREATE USER 'querylogs'@'%' IDENTIFIED BY ?", pw1); err != nil {
		t.Fatal(err)
	}

	r.vault = &fakeVault{token: "vault-token", jwt: "sa-jwt", user: "querylogs"}
	r.vault.set(pw1, 3600)
	vsrv := r.vault.start(t)

	conn := fmt.Sprintf("Server=%s; Port=%d; Uid=querylogs; Pwd=%s; Database=dnslogs;", r.db.Host, r.db.Port, quoteConnValue(pw1))
	cfgJSON := `{
  "enableLogging": true,
  "maxQueueSize": 1000000,
  "maxLogDays": 7,
  "databaseName": "DnsQueryLogs",
  "connectionString": ` + mustJSON(t, conn) + `
}`
	r.technitium = &fakeTechnitium{token: "tech-token", app: "Query Logs (MySQL)", config: &cfgJSON}
	tsrv := r.technitium.start(t)

	r.grafana = &fakeGrafana{token: "graf-token", uid: "querylogs", version: 4, user: "querylogs",
		secure: map[string]string{"password": pw1, "tlsClientKey": "keep-me"},
		health: func(user, password string) error {
			return mysqlLogin(context.Background(), r.db.Addr(), user, NewSecret(password), 5*time.Second)
		}}
	gsrv := r.grafana.start(t)

	r.hook = &fakeHook{}
	hsrv := r.hook.start(t)

	write := func(name, v string) string {
		p := filepath.Join(r.dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r.spec = Spec{
		StateDir: filepath.Join(r.dir, "state"),
		Source: Source{Vault: &VaultSource{Address: vsrv.URL, TokenFile: write("vault-token", "vault-token"),
			StaticCreds: &VaultStaticCreds{Role: "querylogs"}}},
		Sinks: []Sink{
			{Name: "dns1", Technitium: &TechnitiumSink{URL: tsrv.URL, TokenFile: write("tech-token", "tech-token"), App: "Query Logs (MySQL)"}},
			{Name: "grafana", Grafana: &GrafanaSink{URL: gsrv.URL, TokenFile: write("graf-token", "graf-token"), DatasourceUID: "querylogs"}},
			{Name: "hook", HTTP: &HTTPSinkSpec{URL: hsrv.URL + "/rotate?sig=abc", Body: `{"user": {{json .Username}}, "password": {{json .Password}}}`}},
		},
	}
	return r
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rotate does what Vault's static role does when its ttl runs out: a new
// password on the server, and the new one in Vault.
func (r *rig) rotate(t *testing.T, pw string) {
	t.Helper()
	if _, err := r.root.Exec("ALTER USER 'querylogs'@'%' IDENTIFIED BY ?", pw); err != nil {
		t.Fatal(err)
	}
	r.vault.set(pw, 3600)
}

func (r *rig) sync(t *testing.T) *Report {
	t.Helper()
	sy, err := r.spec.Syncer("querylogs-password")
	if err != nil {
		t.Fatal(err)
	}
	sy.Logger = slog.New(slog.NewJSONHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep := sy.Run(t.Context())
	text := rep.Text()
	js, _ := json.Marshal(rep)
	res, _ := json.Marshal(rep.Result())
	r.logs.WriteString(text)
	r.logs.Write(js)
	r.logs.Write(res)
	t.Logf("sync:\n%s", text)
	return rep
}

func actions(rep *Report) map[string]string {
	m := map[string]string{}
	for _, s := range rep.Sinks {
		m[s.Name] = s.Action + "/" + s.Verified
	}
	return m
}

// The consumer's own login: what Technitium's app would do with the
// connection string it now holds.
func (r *rig) consumerLogin(t *testing.T) error {
	t.Helper()
	raw, _, err := topLevelValue([]byte(r.technitium.get()), "connectionString")
	if err != nil {
		t.Fatal(err)
	}
	var s string
	json.Unmarshal(raw, &s)
	pairs, err := parseConnString(s)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := connGet(pairs, connPasswordKeys)
	user, _ := connGet(pairs, connUserKeys)
	return mysqlLogin(t.Context(), r.db.Addr(), user, NewSecret(pw), 5*time.Second)
}

func TestRotationReachesEveryConsumer(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	// First sync: no hashes yet. Technitium already holds pw1 (read back:
	// "current", no write); Grafana and the hook cannot say, so they get it.
	rep := r.sync(t)
	want := map[string]string{"dns1": "current/ok", "grafana": "pushed/ok", "hook": "pushed/not-verifiable"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" || rep.Error != "" {
		t.Fatalf("first sync (-want +got):\n%s%s", diff, rep.Error)
	}
	if r.technitium.sets != 0 {
		t.Errorf("technitium config written %d times for a password it already held", r.technitium.sets)
	}
	if rep.TTL != Duration(time.Hour) || rep.NextRunBy.Sub(rep.At) != time.Hour+time.Minute {
		t.Errorf("ttl %v, next run by %v after the sync; want 1h and 1h1m", time.Duration(rep.TTL), rep.NextRunBy.Sub(rep.At))
	}

	// Nothing changed: nothing sent, every verifiable sink proven again.
	rep = r.sync(t)
	want = map[string]string{"dns1": "unchanged/ok", "grafana": "unchanged/ok", "hook": "unchanged/not-verifiable"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Fatalf("second sync (-want +got):\n%s", diff)
	}
	if len(r.hook.bodies) != 1 || r.grafana.puts != 1 {
		t.Errorf("unchanged value sent again: hook %d, grafana %d times", len(r.hook.bodies), r.grafana.puts)
	}

	// Vault rotates: the consumer is broken until the sync.
	r.rotate(t, pw2)
	if err := r.consumerLogin(t); err == nil {
		t.Fatal("the consumer still logs in with the old password after the rotation")
	}
	before := r.technitium.get()
	rep = r.sync(t)
	want = map[string]string{"dns1": "pushed/ok", "grafana": "pushed/ok", "hook": "pushed/not-verifiable"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Fatalf("sync after rotation (-want +got):\n%s", diff)
	}
	if err := r.consumerLogin(t); err != nil {
		t.Fatalf("the consumer cannot log in after the sync: %v", err)
	}
	// Only the password changed in Technitium's config: every other byte
	// is as it was (its set call replaces the whole config).
	after := r.technitium.get()
	if !strings.HasPrefix(after, before[:strings.Index(before, `"connectionString"`)]) || !strings.HasSuffix(after, "\n}") {
		t.Errorf("technitium config changed beyond the connection string:\nbefore %s\nafter  %s", before, after)
	}
	if r.grafana.secure["tlsClientKey"] != "keep-me" || r.grafana.secure["password"] != pw2 {
		t.Errorf("grafana secure fields after the sync: tlsClientKey kept=%v, password updated=%v",
			r.grafana.secure["tlsClientKey"] == "keep-me", r.grafana.secure["password"] == pw2)
	}
	if got := r.hook.bodies[len(r.hook.bodies)-1]; got != `POST /rotate {"user": "querylogs", "password": `+mustJSON(t, pw2)+`}` {
		t.Errorf("hook got %q", got)
	}

	// A sink that fails keeps its old hash, so the next run retries it,
	// and only it.
	r.rotate(t, pw3)
	r.grafana.mu.Lock()
	r.grafana.conflict = 1
	r.grafana.mu.Unlock()
	r.hook.status = 502
	rep = r.sync(t)
	want = map[string]string{"dns1": "pushed/ok", "grafana": "failed/", "hook": "failed/"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Fatalf("sync with failing sinks (-want +got):\n%s", diff)
	}
	res := rep.Result()
	if res.Status != "failed" || len(res.Findings) != 2 || !strings.Contains(res.Findings[0].Message, "409") {
		t.Errorf("result %+v, want failed with the 409 named", res)
	}
	r.hook.status = 0
	rep = r.sync(t)
	want = map[string]string{"dns1": "unchanged/ok", "grafana": "pushed/ok", "hook": "pushed/not-verifiable"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Fatalf("retry after the failures (-want +got):\n%s", diff)
	}

	// Someone puts an old password back into the app by hand: the hash says
	// unchanged, verification says broken, so it is pushed again at once.
	old := strings.Replace(r.technitium.get(), mustJSON(t, quoteConnValue(pw3))[1:len(mustJSON(t, quoteConnValue(pw3)))-1], "stale", 1)
	r.technitium.mu.Lock()
	r.technitium.config = &old
	r.technitium.mu.Unlock()
	rep = r.sync(t)
	if got := actions(rep)["dns1"]; got != "pushed/ok" {
		t.Errorf("hand-reverted app: %s, want pushed/ok", got)
	}

	// Nothing printed, logged, reported or stored holds any password.
	var stored bytes.Buffer
	filepath.Walk(r.spec.StateDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			stored.Write(b)
		}
		return nil
	})
	// Each password's distinctive start catches it escaped or quoted too.
	for _, frag := range []string{"Init-pw1", "Rot=pw2", "third-PW3", pw1, pw2, pw3} {
		for what, b := range map[string][]byte{"logs and reports": r.logs.Bytes(), "state dir": stored.Bytes()} {
			if bytes.Contains(b, []byte(frag)) {
				t.Errorf("%s contain a password (%q...)", what, frag[:4])
			}
		}
	}
	if r.logs.Len() < 1000 {
		t.Errorf("only %d bytes of logs and reports checked", r.logs.Len())
	}
}
