package secrets

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tokenFile(t *testing.T, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVaultStaticCredsWithKubernetesAuth(t *testing.T) {
	t.Parallel()
	v := &fakeVault{token: "tok", jwt: "jwt", user: "querylogs"}
	v.set("pw", 3540)
	srv := v.start(t)
	src := vaultSource{client: http.DefaultClient, spec: VaultSource{Address: srv.URL,
		Kubernetes:  &VaultKubernetes{Role: "labops", Mount: "kubernetes", JWTFile: tokenFile(t, "jwt")},
		StaticCreds: &VaultStaticCreds{Mount: "database", Role: "querylogs"}}}
	c, err := src.Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "querylogs" || c.Password.Reveal() != "pw" || c.TTL != 59*time.Minute || c.LastRotation.IsZero() {
		t.Errorf("got %+v ttl %v", c, c.TTL)
	}
	// A wrong service account token is refused with Vault's own words.
	src.spec.Kubernetes.JWTFile = tokenFile(t, "other")
	if _, err := src.Fetch(t.Context()); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("wrong jwt: %v", err)
	}
}

func TestVaultKV(t *testing.T) {
	t.Parallel()
	v := &fakeVault{token: "tok", kv: map[string]any{"user": "dns", "password": "kvpw", "port": 3306}}
	srv := v.start(t)
	spec := VaultSource{Address: srv.URL, TokenFile: tokenFile(t, "tok"),
		KV: &VaultKV{Mount: "secret", Path: "dns/querylogs", PasswordKey: "password", UsernameKey: "user"}}
	c, err := vaultSource{spec: spec, client: http.DefaultClient}.Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "dns" || c.Password.Reveal() != "kvpw" || c.Version != "3" || c.TTL != 0 {
		t.Errorf("got %+v", c)
	}
	for key, want := range map[string]string{"pass": `no key "pass"`, "port": `key "port" is not a non-empty string`} {
		spec.KV.PasswordKey = key
		_, err := vaultSource{spec: spec, client: http.DefaultClient}.Fetch(t.Context())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("password_key %s: %v, want %q", key, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "kvpw") {
			t.Errorf("error shows a value: %v", err)
		}
	}
}

func TestVaultErrors(t *testing.T) {
	t.Parallel()
	v := &fakeVault{token: "tok", user: "u", fail: 1}
	v.set("pw", 60)
	srv := v.start(t)
	src := vaultSource{client: http.DefaultClient, spec: VaultSource{Address: srv.URL, TokenFile: tokenFile(t, "tok"),
		StaticCreds: &VaultStaticCreds{Mount: "database", Role: "querylogs"}}}
	if _, err := src.Fetch(t.Context()); err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "internal error") {
		t.Errorf("500: %v", err)
	}
	src.spec.StaticCreds.Role = "missing"
	if _, err := src.Fetch(t.Context()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
	src.spec.Address = "http://127.0.0.1:1"
	if _, err := src.Fetch(t.Context()); err == nil {
		t.Error("unreachable vault: no error")
	}
}

func TestParseStaticCredsRejects(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{}`:                        "no data",
		`{"data":{"username":"u"}}`: "no data.password",
		`{"data":{"password":"p"}}`: "no data.username",
		`{"data":{"username":"u","password":"p","ttl":-1}}`:                          "not a number of seconds",
		`{"data":{"username":"u","password":"p","last_vault_rotation":"yesterday"}}`: "not a time",
		`[`: "not Vault's JSON",
	} {
		_, err := parseStaticCreds([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
	// A scheduled role says rotation_schedule instead of rotation_period.
	c, err := parseStaticCreds([]byte(`{"data":{"username":"u","password":"p","ttl":30,"rotation_schedule":"0 * * * SAT","rotation_window":3600,"last_vault_rotation":"2026-11-28T00:00:00.123Z"}}`))
	if err != nil || c.TTL != 30*time.Second {
		t.Errorf("scheduled role: %+v, %v", c, err)
	}
}

// The API replies labops parses never panic, and a password never lands in
// an error.
func FuzzAPIReplies(f *testing.F) {
	for _, s := range []string{
		`{"data":{"username":"u","password":"p","ttl":30,"last_vault_rotation":"2026-11-28T00:00:00Z"}}`,
		`{"data":{"data":{"password":"p","user":"u"},"metadata":{"version":2}}}`,
		`{"auth":{"client_token":"t"}}`, `{"errors":["permission denied"]}`, `null`, `{"data":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStaticCreds(b)
		parseKV(b, VaultKV{Path: "p", PasswordKey: "password", UsernameKey: "user"})
		parseLogin(b)
		vaultErrors(b)
		parseTechnitiumReply("/x", b)
		grafanaSink{}.statusErr("updating", 400, b)
		if raw, span, err := topLevelValue(b, "connectionString"); err == nil {
			if string(b[span[0]:span[1]]) != string(raw) {
				t.Fatalf("span %v of %q is %q, want %q", span, b, b[span[0]:span[1]], raw)
			}
		}
	})
}

// A Vault behind a private CA: trusted through ca_file, refused without.
func TestVaultCAFile(t *testing.T) {
	t.Parallel()
	v := &fakeVault{token: "tok", user: "u"}
	v.set("pw", 60)
	srv := httptest.NewTLSServer(v.start(t).Config.Handler)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{StateDir: t.TempDir(),
		Source: Source{Vault: &VaultSource{Address: srv.URL, TokenFile: tokenFile(t, "tok"), CAFile: ca, StaticCreds: &VaultStaticCreds{Role: "querylogs"}}},
		Sinks:  []Sink{{Name: "h", HTTP: &HTTPSinkSpec{URL: "http://127.0.0.1:1", Body: "{{.Password}}"}}}}
	sy, err := spec.Syncer("j")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := sy.Source.Fetch(t.Context()); err != nil || c.Password.Reveal() != "pw" {
		t.Errorf("with ca_file: %v", err)
	}
	spec.Source.Vault.CAFile = ""
	sy, _ = spec.Syncer("j")
	if _, err := sy.Source.Fetch(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without ca_file: %v, want a certificate error", err)
	}
	spec.Source.Vault.CAFile = tokenFile(t, "not pem")
	if _, err := spec.Syncer("j"); err == nil || !strings.Contains(err.Error(), "source.vault.ca_file") {
		t.Errorf("bad ca_file: %v", err)
	}
}
