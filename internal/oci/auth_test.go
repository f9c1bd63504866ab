package oci_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

func TestCheckBasicAuth(t *testing.T) {
	t.Parallel()
	htpasswd := labtest.Need(t, "htpasswd", "apache2-utils")
	file := filepath.Join(t.TempDir(), "htpasswd")
	out, err := exec.Command(htpasswd, "-Bbn", "ci", "s3cret").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	r := labtest.StartRegistry(t, labtest.RegistryOptions{Htpasswd: file})
	creds := oci.Credentials{Username: "ci", Password: "s3cret"}
	pushImage(t, oci.NewPusher(client(t, r.Host(), oci.Options{Credentials: creds})), "app", "v1", image("app:v1", "debian", 2, nil))

	rep := oci.Check(t.Context(), client(t, r.Host(), oci.Options{Credentials: creds}), oci.CheckOptions{})
	if rep.Status != job.StatusOK || rep.Summary.Tags != 1 || rep.Summary.Blobs != 3 {
		t.Errorf("with credentials: status %s, summary %+v, errors %q", rep.Status, rep.Summary, rep.Errors)
	}
	anon := oci.Check(t.Context(), client(t, r.Host(), oci.Options{}), oci.CheckOptions{})
	if anon.Status != job.StatusIncomplete || !strings.Contains(anon.Error, "unauthorized (HTTP 401") || anon.CatalogUp {
		t.Errorf("anonymous: status %s, error %q; want incomplete with 401", anon.Status, anon.Error)
	}
	wrong := oci.Check(t.Context(), client(t, r.Host(), oci.Options{Credentials: oci.Credentials{Username: "ci", Password: "nope"}}), oci.CheckOptions{})
	if wrong.Status != job.StatusIncomplete || strings.Contains(wrong.Error, "nope") {
		t.Errorf("wrong password: status %s, error %q; want incomplete, password never shown", wrong.Status, wrong.Error)
	}
}

// tokenServer issues ES256 JWTs that registry:2 trusts through
// rootcertbundle; it grants every scope asked for to user ci.
type tokenServer struct {
	*httptest.Server
	key      *ecdsa.PrivateKey
	certDER  []byte
	certFile string
	fetches  atomic.Int64
}

func startTokenServer(t *testing.T, service, issuer string) *tokenServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "labtest token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tokenServer{key: key, certDER: der, certFile: filepath.Join(t.TempDir(), "token.crt")}
	if err := os.WriteFile(ts.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.fetches.Add(1)
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "t0ken-pass" {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("service") != service {
			http.Error(w, "wrong service", http.StatusBadRequest)
			return
		}
		type access struct {
			Type    string   `json:"type"`
			Name    string   `json:"name"`
			Actions []string `json:"actions"`
		}
		var acc []access
		for _, s := range r.URL.Query()["scope"] {
			parts := strings.Split(s, ":")
			if len(parts) != 3 {
				continue
			}
			acc = append(acc, access{Type: parts[0], Name: parts[1], Actions: strings.Split(parts[2], ",")})
		}
		now := time.Now()
		claims := map[string]any{
			"iss": issuer, "sub": "ci", "aud": service, "jti": now.String(),
			"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"access": acc,
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": ts.sign(t, claims), "expires_in": 300})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) sign(t *testing.T, claims map[string]any) string {
	hdr, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)}})
	body, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		t.Error(err)
		return ""
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig)
}

// TestCheckBearerAuth runs the real registry:2 with token auth against a
// token server in the test: the bearer challenge flow, with tokens cached
// per scope.
func TestCheckBearerAuth(t *testing.T) {
	t.Parallel()
	ts := startTokenServer(t, "labtest-registry", "labtest-issuer")
	r := labtest.StartRegistry(t, labtest.RegistryOptions{Token: &labtest.RegistryTokenAuth{
		Realm: ts.URL + "/token", Service: "labtest-registry", Issuer: "labtest-issuer", RootCertBundle: ts.certFile,
	}})
	creds := oci.Credentials{Username: "ci", Password: "t0ken-pass"}
	p := oci.NewPusher(client(t, r.Host(), oci.Options{Credentials: creds}))
	pushImage(t, p, "app", "v1", image("app:v1", "debian", 3, nil))
	pushImage(t, p, "app", "v2", image("app:v2", "debian", 3, nil))
	pushImage(t, p, "tools", "latest", image("tools", "alpine", 2, nil))

	ts.fetches.Store(0)
	rep := oci.Check(t.Context(), client(t, r.Host(), oci.Options{Credentials: creds}), oci.CheckOptions{})
	if rep.Status != job.StatusOK {
		t.Fatalf("status %s, errors %q", rep.Status, rep.Errors)
	}
	if diff := cmp.Diff(oci.Summary{Repositories: 2, Tags: 3, Manifests: 3, Blobs: 10}, rep.Summary,
		cmpIgnore("Requests", "Seconds")); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	// One token for the catalog, one per repository: cached, not per request.
	if got := ts.fetches.Load(); got != 3 {
		t.Errorf("%d token fetches, want 3 (catalog, app, tools)", got)
	}
	bad := oci.Check(t.Context(), client(t, r.Host(), oci.Options{Credentials: oci.Credentials{Username: "ci", Password: "wrong"}}), oci.CheckOptions{})
	if bad.Status != job.StatusIncomplete || !strings.Contains(bad.Error, "fetching token") || strings.Contains(bad.Error, "wrong") {
		t.Errorf("wrong password: status %s, error %q", bad.Status, bad.Error)
	}
}

func TestDockerConfigCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	cfg := `{"auths":{
		"https://registry.example.org/v1/":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("alice:pa:ss")) + `"},
		"127.0.0.1:5000":{"username":"bob","password":"pw"},
		"broken.example.org":{"auth":"!!"}}}`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host    string
		want    oci.Credentials
		found   bool
		wantErr string
	}{
		{host: "registry.example.org", want: oci.Credentials{Username: "alice", Password: "pa:ss"}, found: true},
		{host: "127.0.0.1:5000", want: oci.Credentials{Username: "bob", Password: "pw"}, found: true},
		{host: "other.example.org"},
		{host: "broken.example.org", wantErr: "is not base64"},
	} {
		got, found, err := oci.DockerConfigCredentials(path, tc.host)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.host, err, tc.wantErr)
			}
			continue
		}
		if err != nil || found != tc.found || got != tc.want {
			t.Errorf("%s: got %v %v %v, want %v %v", tc.host, got, found, err, tc.want, tc.found)
		}
	}
	if _, found, err := oci.DockerConfigCredentials(filepath.Join(dir, "missing.json"), "x"); found || err != nil {
		t.Errorf("missing file: found %v, err %v", found, err)
	}
	env := map[string]string{"DOCKER_CONFIG": dir}
	if got := oci.DockerConfigPath(func(k string) string { return env[k] }); got != path {
		t.Errorf("DockerConfigPath = %q, want %q", got, path)
	}
	if s := (oci.Credentials{Username: "u", Password: "secret"}).String(); strings.Contains(s, "secret") {
		t.Errorf("Credentials.String shows the password: %q", s)
	}
}
