package secrets

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/labops/labops/internal/config"
)

// Spec is the config section of a secret-sync job: one credential, where
// it comes from and every consumer that holds a copy.
type Spec struct {
	// StateDir keeps the keyed hashes of what each sink was last given (a
	// persistent volume in Kubernetes). Required: without it every run
	// would push to every sink.
	StateDir string `yaml:"state_dir" json:"state_dir"`
	Source   Source `yaml:"source" json:"source"`
	Sinks    []Sink `yaml:"sinks" json:"sinks"`
	// AfterRotation is how long after the source's next rotation (its ttl)
	// serve runs the job again (default "1m"). A CronJob runs on its own
	// schedule; the rotation time is exported so an alert fires when it
	// passed without a sync.
	AfterRotation string `yaml:"after_rotation" json:"after_rotation,omitempty"`
	// Timeout bounds each request (default "30s").
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
}

// Source names exactly one of its fields.
type Source struct {
	File  *FileSource  `yaml:"file" json:"file,omitempty"`
	Vault *VaultSource `yaml:"vault" json:"vault,omitempty"`
}

// FileSource reads a mounted secret (a Kubernetes Secret written by External
// Secrets Operator, or a file Vault Agent renders).
type FileSource struct {
	PasswordFile string `yaml:"password_file" json:"password_file"`
	UsernameFile string `yaml:"username_file" json:"username_file,omitempty"`
	Username     string `yaml:"username" json:"username,omitempty"`
}

// VaultSource reads Vault's HTTP API, authenticated by a token file or by
// Kubernetes auth, from a database static role or a KV v2 secret.
type VaultSource struct {
	Address   string `yaml:"address" json:"address"`
	Namespace string `yaml:"namespace" json:"namespace,omitempty"`
	// CAFile is a PEM bundle to trust for Vault's TLS certificate (a
	// private CA); empty means the system's roots.
	CAFile     string           `yaml:"ca_file" json:"ca_file,omitempty"`
	TokenFile  string           `yaml:"token_file" json:"token_file,omitempty"`
	Kubernetes *VaultKubernetes `yaml:"kubernetes" json:"kubernetes,omitempty"`
	// StaticCreds is GET /v1/<mount>/static-creds/<role>.
	StaticCreds *VaultStaticCreds `yaml:"static_creds" json:"static_creds,omitempty"`
	// KV is GET /v1/<mount>/data/<path> (KV version 2).
	KV *VaultKV `yaml:"kv" json:"kv,omitempty"`
}

// VaultKubernetes logs in with the pod's service account token.
type VaultKubernetes struct {
	Role    string `yaml:"role" json:"role"`
	Mount   string `yaml:"mount" json:"mount,omitempty"`       // default "kubernetes"
	JWTFile string `yaml:"jwt_file" json:"jwt_file,omitempty"` // default the service account token
}

// VaultStaticCreds is a database secrets engine static role.
type VaultStaticCreds struct {
	Mount string `yaml:"mount" json:"mount,omitempty"` // default "database"
	Role  string `yaml:"role" json:"role"`
}

// VaultKV is a KV version 2 secret.
type VaultKV struct {
	Mount       string `yaml:"mount" json:"mount,omitempty"` // default "secret"
	Path        string `yaml:"path" json:"path"`
	PasswordKey string `yaml:"password_key" json:"password_key,omitempty"` // default "password"
	UsernameKey string `yaml:"username_key" json:"username_key,omitempty"`
	Username    string `yaml:"username" json:"username,omitempty"`
}

// Sink is one consumer; it names exactly one of its kinds.
type Sink struct {
	Name       string          `yaml:"name" json:"name"`
	Technitium *TechnitiumSink `yaml:"technitium" json:"technitium,omitempty"`
	Grafana    *GrafanaSink    `yaml:"grafana" json:"grafana,omitempty"`
	HTTP       *HTTPSinkSpec   `yaml:"http" json:"http,omitempty"`
}

// TechnitiumSink is a Technitium DNS app whose config holds a connection
// string (the query-log apps: "Query Logs (MySQL)" and friends).
type TechnitiumSink struct {
	URL       string `yaml:"url" json:"url"`
	TokenFile string `yaml:"token_file" json:"token_file"`
	App       string `yaml:"app" json:"app"`
	// Field is the key of the app's JSON config holding the connection
	// string (default "connectionString").
	Field string `yaml:"field" json:"field,omitempty"`
	// Verify logs in to the MySQL/MariaDB server the connection string
	// names, with the user and password it now holds (default true; set
	// false for an app on another database: the config is still read back).
	Verify *bool `yaml:"verify" json:"verify,omitempty"`
}

// GrafanaSink is a Grafana datasource whose secureJsonData holds the password.
type GrafanaSink struct {
	URL           string `yaml:"url" json:"url"`
	TokenFile     string `yaml:"token_file" json:"token_file"`
	DatasourceUID string `yaml:"datasource_uid" json:"datasource_uid"`
	// Field is the secureJsonData key (default "password").
	Field string `yaml:"field" json:"field,omitempty"`
	// Verify runs the datasource's health check after the update (default true).
	Verify *bool `yaml:"verify" json:"verify,omitempty"`
}

// HTTPSinkSpec sends the credential to any endpoint: Body is a text/template
// over .Username and .Password, with json and urlquery for escaping.
type HTTPSinkSpec struct {
	URL       string            `yaml:"url" json:"url"`
	Method    string            `yaml:"method" json:"method,omitempty"` // default POST
	Headers   map[string]string `yaml:"headers" json:"headers,omitempty"`
	TokenFile string            `yaml:"token_file" json:"token_file,omitempty"`
	Body      string            `yaml:"body" json:"body"`
}

var sinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

func (s *Spec) defaults() {
	if s.AfterRotation == "" {
		s.AfterRotation = "1m"
	}
	if s.Timeout == "" {
		s.Timeout = "30s"
	}
	if v := s.Source.Vault; v != nil {
		if v.Kubernetes != nil {
			if v.Kubernetes.Mount == "" {
				v.Kubernetes.Mount = "kubernetes"
			}
			if v.Kubernetes.JWTFile == "" {
				v.Kubernetes.JWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
			}
		}
		if v.StaticCreds != nil && v.StaticCreds.Mount == "" {
			v.StaticCreds.Mount = "database"
		}
		if v.KV != nil {
			if v.KV.Mount == "" {
				v.KV.Mount = "secret"
			}
			if v.KV.PasswordKey == "" {
				v.KV.PasswordKey = "password"
			}
		}
	}
	for i := range s.Sinks {
		if t := s.Sinks[i].Technitium; t != nil && t.Field == "" {
			t.Field = "connectionString"
		}
		if g := s.Sinks[i].Grafana; g != nil && g.Field == "" {
			g.Field = "password"
		}
		if h := s.Sinks[i].HTTP; h != nil && h.Method == "" {
			h.Method = http.MethodPost
		}
	}
}

// Validate returns every problem, with paths relative to the spec.
func (s Spec) Validate() error {
	s = s.clone()
	s.defaults()
	var ps config.Problems
	if strings.TrimSpace(s.StateDir) == "" {
		ps.Add("state_dir", "required: a directory that survives between runs, for the keyed hashes of what each sink holds")
	}
	for _, f := range []struct{ path, v string }{{"after_rotation", s.AfterRotation}, {"timeout", s.Timeout}} {
		if d, err := time.ParseDuration(f.v); err != nil || d <= 0 {
			ps.Add(f.path, "%q is not a positive duration (e.g. 30s)", f.v)
		}
	}
	validateSource(s.Source, &ps)
	if len(s.Sinks) == 0 {
		ps.Add("sinks", "required: at least one consumer to keep in sync")
	}
	seen := map[string]bool{}
	for i, k := range s.Sinks {
		validateSink(fmt.Sprintf("sinks[%d]", i), k, seen, &ps)
	}
	return ps.Err()
}

func validateSource(src Source, ps *config.Problems) {
	switch {
	case src.File == nil && src.Vault == nil:
		ps.Add("source", "required: file or vault")
	case src.File != nil && src.Vault != nil:
		ps.Add("source", "give file or vault, not both")
	case src.File != nil:
		if src.File.PasswordFile == "" {
			ps.Add("source.file.password_file", "required: the file holding the password")
		}
		if src.File.UsernameFile != "" && src.File.Username != "" {
			ps.Add("source.file.username", "give username or username_file, not both")
		}
	default:
		v := src.Vault
		if !isHTTPURL(v.Address) {
			ps.Add("source.vault.address", "%q is not an http(s) URL (e.g. https://vault.example.com:8200)", v.Address)
		}
		switch {
		case v.TokenFile == "" && v.Kubernetes == nil:
			ps.Add("source.vault", "required: token_file or kubernetes (auth)")
		case v.TokenFile != "" && v.Kubernetes != nil:
			ps.Add("source.vault", "give token_file or kubernetes, not both")
		case v.Kubernetes != nil && v.Kubernetes.Role == "":
			ps.Add("source.vault.kubernetes.role", "required: the Vault role bound to this service account")
		}
		switch {
		case v.StaticCreds == nil && v.KV == nil:
			ps.Add("source.vault", "required: static_creds or kv")
		case v.StaticCreds != nil && v.KV != nil:
			ps.Add("source.vault", "give static_creds or kv, not both")
		case v.StaticCreds != nil:
			if !isPathSegment(v.StaticCreds.Role) {
				ps.Add("source.vault.static_creds.role", "%q is not a role name", v.StaticCreds.Role)
			}
			if !isVaultPath(v.StaticCreds.Mount) {
				ps.Add("source.vault.static_creds.mount", "%q is not a mount path", v.StaticCreds.Mount)
			}
		default:
			if !isVaultPath(v.KV.Path) {
				ps.Add("source.vault.kv.path", "%q is not a secret path (e.g. apps/querylogs)", v.KV.Path)
			}
			if !isVaultPath(v.KV.Mount) {
				ps.Add("source.vault.kv.mount", "%q is not a mount path", v.KV.Mount)
			}
			if v.KV.UsernameKey != "" && v.KV.Username != "" {
				ps.Add("source.vault.kv.username", "give username or username_key, not both")
			}
		}
	}
}

func validateSink(path string, k Sink, seen map[string]bool, ps *config.Problems) {
	if !sinkName.MatchString(k.Name) {
		ps.Add(path+".name", "%q is not a sink name: lower-case letters, digits, '.', '_' and '-', up to 63", k.Name)
	} else if seen[k.Name] {
		ps.Add(path+".name", "%q names two sinks", k.Name)
	}
	seen[k.Name] = true
	n := 0
	if t := k.Technitium; t != nil {
		n++
		if !isHTTPURL(t.URL) {
			ps.Add(path+".technitium.url", "%q is not an http(s) URL (e.g. http://dns1:5380)", t.URL)
		}
		if t.TokenFile == "" {
			ps.Add(path+".technitium.token_file", "required: the file holding an API token with Apps: Modify")
		}
		if t.App == "" {
			ps.Add(path+".technitium.app", "required: the app's name as Technitium lists it (e.g. Query Logs (MySQL))")
		}
	}
	if g := k.Grafana; g != nil {
		n++
		if !isHTTPURL(g.URL) {
			ps.Add(path+".grafana.url", "%q is not an http(s) URL (e.g. http://grafana:3000)", g.URL)
		}
		if g.TokenFile == "" {
			ps.Add(path+".grafana.token_file", "required: the file holding a service account token that may write datasources")
		}
		if !isPathSegment(g.DatasourceUID) {
			ps.Add(path+".grafana.datasource_uid", "%q is not a datasource uid", g.DatasourceUID)
		}
	}
	if h := k.HTTP; h != nil {
		n++
		if !isHTTPURL(h.URL) {
			ps.Add(path+".http.url", "%q is not an http(s) URL", h.URL)
		}
		switch h.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			ps.Add(path+".http.method", "%q: want POST, PUT or PATCH", h.Method)
		}
		if _, err := parseBody(h.Body); err != nil {
			ps.Add(path+".http.body", "%v", err)
		}
	}
	if n != 1 {
		ps.Add(path, "name exactly one of technitium, grafana or http (got %d)", n)
	}
}

// clone copies what defaults mutates, so Validate leaves its receiver alone.
func (s Spec) clone() Spec {
	if s.Source.Vault != nil {
		v := *s.Source.Vault
		if v.Kubernetes != nil {
			k := *v.Kubernetes
			v.Kubernetes = &k
		}
		if v.StaticCreds != nil {
			c := *v.StaticCreds
			v.StaticCreds = &c
		}
		if v.KV != nil {
			c := *v.KV
			v.KV = &c
		}
		s.Source.Vault = &v
	}
	sinks := make([]Sink, len(s.Sinks))
	for i, k := range s.Sinks {
		if k.Technitium != nil {
			c := *k.Technitium
			k.Technitium = &c
		}
		if k.Grafana != nil {
			c := *k.Grafana
			k.Grafana = &c
		}
		if k.HTTP != nil {
			c := *k.HTTP
			k.HTTP = &c
		}
		sinks[i] = k
	}
	s.Sinks = sinks
	return s
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

var (
	pathSegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	vaultPath   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$`)
)

func isPathSegment(s string) bool { return pathSegment.MatchString(s) && !strings.Contains(s, "..") }
func isVaultPath(s string) bool   { return vaultPath.MatchString(s) && !strings.Contains(s, "..") }

func enabled(b *bool) bool { return b == nil || *b }

// Syncer builds the sync of a valid spec for the job named job.
func (s Spec) Syncer(job string) (*Syncer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.clone()
	s.defaults()
	timeout, _ := time.ParseDuration(s.Timeout)
	after, _ := time.ParseDuration(s.AfterRotation)
	client := &http.Client{Timeout: timeout}
	// Sinks never follow a redirect: a 307 or 308 would send the password
	// in the body again, to wherever the Location points. (Vault's
	// standbys redirect to the active node, so the source's client does.)
	sinkClient := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	sy := &Syncer{Job: job, StateDir: s.StateDir, AfterRotation: after}
	if s.Source.File != nil {
		sy.Source = fileSource{spec: *s.Source.File}
	} else {
		vc := client
		if ca := s.Source.Vault.CAFile; ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, config.Problems{{Path: "source.vault.ca_file", Msg: err.Error()}}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, config.Problems{{Path: "source.vault.ca_file", Msg: fmt.Sprintf("%s holds no PEM certificate", ca)}}
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			vc = &http.Client{Timeout: timeout, Transport: tr}
		}
		sy.Source = vaultSource{spec: *s.Source.Vault, client: vc}
	}
	for _, k := range s.Sinks {
		var sk sink
		switch {
		case k.Technitium != nil:
			sk = technitiumSink{spec: *k.Technitium, client: sinkClient, timeout: timeout}
		case k.Grafana != nil:
			sk = grafanaSink{spec: *k.Grafana, client: sinkClient}
		default:
			body, _ := parseBody(k.HTTP.Body) // validated
			sk = httpSink{spec: *k.HTTP, body: body, client: sinkClient}
		}
		sy.Sinks = append(sy.Sinks, namedSink{name: k.Name, sink: sk})
	}
	return sy, nil
}
