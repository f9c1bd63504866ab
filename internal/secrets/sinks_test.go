package secrets

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func technitiumFor(t *testing.T, f *fakeTechnitium, token string) technitiumSink {
	t.Helper()
	srv := f.start(t)
	no := false
	return technitiumSink{client: http.DefaultClient, timeout: 5 * time.Second, spec: TechnitiumSink{
		URL: srv.URL, TokenFile: tokenFile(t, token), App: "Query Logs (MySQL)", Field: "connectionString", Verify: &no}}
}

func TestTechnitiumQuirks(t *testing.T) {
	t.Parallel()
	cred := Credential{Username: "dns", Password: NewSecret("new")}
	cfg := `{"connectionString":"Server=db; Uid=dns; Pwd=old;","maxLogDays":0}`

	// An app without a config is never given one built from nothing: its
	// set call would replace (and an empty one wipe) the whole config.
	f := &fakeTechnitium{token: "t", app: "Query Logs (MySQL)"}
	s := technitiumFor(t, f, "t")
	if _, err := s.Push(t.Context(), cred); err == nil || !strings.Contains(err.Error(), "has no config") || f.sets != 0 {
		t.Errorf("no config: %v, %d sets", err, f.sets)
	}
	// Every reply is HTTP 200: the status field decides.
	f = &fakeTechnitium{token: "t", app: "Query Logs (MySQL)", config: &cfg}
	s = technitiumFor(t, f, "wrong")
	if _, err := s.Push(t.Context(), cred); err == nil || !strings.Contains(err.Error(), "invalid-token") {
		t.Errorf("bad token: %v", err)
	}
	s = technitiumFor(t, f, "t")
	s.spec.App = "Query Logs (SQLite)"
	if _, err := s.Push(t.Context(), cred); err == nil || !strings.Contains(err.Error(), "DNS application was not found") {
		t.Errorf("unknown app: %v", err)
	}
	s.spec.App, s.spec.Field = "Query Logs (MySQL)", "connection"
	if _, err := s.Push(t.Context(), cred); err == nil || !strings.Contains(err.Error(), `no field "connection"`) {
		t.Errorf("missing field: %v", err)
	}
	s.spec.Field = "connectionString"
	f.failSet = "Access was denied."
	if _, err := s.Push(t.Context(), cred); err == nil || !strings.Contains(err.Error(), "Access was denied.") {
		t.Errorf("set refused: %v", err)
	}
	if pushed, err := s.Push(t.Context(), cred); err != nil || !pushed {
		t.Fatalf("push: %v, %v", pushed, err)
	}
	if got, want := f.get(), `{"connectionString":"Server=db; Uid=dns; Pwd=new;","maxLogDays":0}`; got != want {
		t.Errorf("config after push:\n got %s\nwant %s", got, want)
	}
	if err := s.Verify(t.Context(), cred); err != nil {
		t.Errorf("read back: %v", err)
	}
	// Someone else writes another password: the read-back says so.
	other := `{"connectionString":"Server=db; Uid=dns; Pwd=theirs;","maxLogDays":0}`
	f.mu.Lock()
	f.config = &other
	f.mu.Unlock()
	if err := s.Verify(t.Context(), cred); err == nil || !strings.Contains(err.Error(), "does not hold the new password") {
		t.Errorf("changed behind: %v", err)
	}
}

func grafanaFor(t *testing.T, g *fakeGrafana) grafanaSink {
	t.Helper()
	if g.health == nil {
		g.health = func(string, string) error { return nil }
	}
	srv := g.start(t)
	return grafanaSink{client: http.DefaultClient, spec: GrafanaSink{URL: srv.URL, TokenFile: tokenFile(t, "tok"), DatasourceUID: "ds", Field: "password"}}
}

func TestGrafanaRefusals(t *testing.T) {
	t.Parallel()
	cred := Credential{Password: NewSecret("pw")}
	for name, tc := range map[string]struct {
		g    *fakeGrafana
		uid  string
		want string
	}{
		"provisioned": {g: &fakeGrafana{token: "tok", uid: "ds", readOnly: true}, want: "provisioned (read-only)"},
		"conflict":    {g: &fakeGrafana{token: "tok", uid: "ds", conflict: 1}, want: "409, version conflict"},
		"missing":     {g: &fakeGrafana{token: "tok", uid: "other"}, want: "no datasource with this uid (404)"},
		"token":       {g: &fakeGrafana{token: "nope", uid: "ds"}, want: "token was refused (401)"},
		"uid":         {g: &fakeGrafana{token: "tok", uid: "ds", modelUID: "DS"}, want: "refused (400): uid mismatch"},
	} {
		tc.g.secure = map[string]string{}
		s := grafanaFor(t, tc.g)
		_, err := s.Push(t.Context(), cred)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// 403 from the PUT itself (a token that may read but not write).
	g := &fakeGrafana{token: "tok", uid: "ds", secure: map[string]string{}}
	s := grafanaFor(t, g)
	err := s.statusErr("updating", 403, []byte(`{"message":"You'll need additional permissions"}`))
	if !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "datasources:write") {
		t.Errorf("403: %v", err)
	}
	// The health check failing is a verification failure with Grafana's words.
	g.health = func(string, string) error { return http.ErrAbortHandler }
	if err := s.Verify(t.Context(), cred); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("health: %v", err)
	}
}

// A sink that redirects does not get the password sent on: a 307 would
// repeat the body to wherever Location points.
func TestSinksDoNotFollowRedirects(t *testing.T) {
	t.Parallel()
	elsewhere := &fakeHook{}
	target := elsewhere.start(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	dir := t.TempDir()
	spec := Spec{StateDir: dir, Source: Source{File: &FileSource{PasswordFile: tokenFile(t, "pw")}},
		Sinks: []Sink{{Name: "h", HTTP: &HTTPSinkSpec{URL: redirect.URL, Body: "{{.Password}}"}}}}
	sy, err := spec.Syncer("j")
	if err != nil {
		t.Fatal(err)
	}
	rep := sy.Run(t.Context())
	if rep.Failed != 1 || !strings.Contains(rep.Sinks[0].Error, "HTTP 307") {
		t.Errorf("redirecting sink: %+v", rep.Sinks)
	}
	if len(elsewhere.bodies) != 0 {
		t.Errorf("the redirect target got %q", elsewhere.bodies)
	}
}
