package secrets

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/labops/labops/internal/config"
)

func decodeSpec(t *testing.T, src string) Spec {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	var s Spec
	if err := config.DecodeSpec(n.Content[0], &s); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return s
}

func TestSpecValid(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"vault static creds, kubernetes auth": `
state_dir: /var/lib/labops/secrets
source:
  vault:
    address: https://vault.example.com:8200
    kubernetes: {role: labops}
    static_creds: {role: querylogs}
sinks:
  - name: dns1
    technitium: {url: "http://dns1:5380", token_file: /t, app: "Query Logs (MySQL)"}
  - name: grafana
    grafana: {url: "http://grafana:3000", token_file: /g, datasource_uid: querylogs}
  - name: hook
    http: {url: "https://hook.example.com/x", method: PUT, body: '{{json .Password}}'}
`,
		"file source": `
state_dir: /s
source: {file: {password_file: /p, username: dns}}
sinks: [{name: a, grafana: {url: "http://g", token_file: /g, datasource_uid: u}}]
`,
		"kv": `
state_dir: /s
source: {vault: {address: "http://v:8200", token_file: /t, kv: {path: dns/querylogs, username_key: user}}}
sinks: [{name: a, grafana: {url: "http://g", token_file: /g, datasource_uid: u}}]
`,
	} {
		if err := decodeSpec(t, src).Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Every problem at once, each at its path, saying what would be valid.
func TestSpecProblems(t *testing.T) {
	t.Parallel()
	s := decodeSpec(t, `
timeout: soon
source:
  vault:
    address: vault:8200
    token_file: /t
    kubernetes: {role: x}
    static_creds: {role: "../sys"}
sinks:
  - name: Dns1
    technitium: {url: "http://dns1:5380"}
  - name: two
    grafana: {url: "http://g", token_file: /g, datasource_uid: u}
    http: {url: "http://h", body: "{{.Nope"}
  - name: two
    http: {url: "http://h", method: GET, body: "static"}
`)
	err := s.Validate()
	var ps config.Problems
	if err == nil || !asProblems(err, &ps) {
		t.Fatalf("Validate = %v, want problems", err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Path)
	}
	want := []string{
		"state_dir", "timeout", "source.vault.address", "source.vault", "source.vault.static_creds.role",
		"sinks[0].name", "sinks[0].technitium.token_file", "sinks[0].technitium.app",
		"sinks[1].http.body", "sinks[1]",
		"sinks[2].name", "sinks[2].http.method", "sinks[2].http.body",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s\n%v", diff, err)
	}
	for _, frag := range []string{`"vault:8200" is not an http(s) URL`, "give token_file or kubernetes, not both",
		`"two" names two sinks`, `"GET": want POST, PUT or PATCH`, "never uses .Password", "exactly one of technitium, grafana or http (got 2)"} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("problems lack %q:\n%v", frag, err)
		}
	}
}

func asProblems(err error, ps *config.Problems) bool {
	p, ok := err.(config.Problems)
	*ps = p
	return ok
}

func TestSpecUnknownField(t *testing.T) {
	t.Parallel()
	var n yaml.Node
	yaml.Unmarshal([]byte("state_dir: /s\nsource: {file: {password_file: /p, pasword: x}}\n"), &n)
	var s Spec
	err := config.DecodeSpec(n.Content[0], &s)
	if err == nil || !strings.Contains(err.Error(), "pasword") {
		t.Errorf("unknown field: %v", err)
	}
}
