package labtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RegistryOptions configure StartRegistry. The zero value is an anonymous
// registry:2 with delete enabled and the default in-memory blob descriptor
// cache.
type RegistryOptions struct {
	// NoBlobCache turns the in-memory blob descriptor cache off.
	NoBlobCache bool
	// Htpasswd is the path of an htpasswd file (bcrypt entries) for basic auth.
	Htpasswd string
	// Token configures bearer-token auth instead.
	Token *RegistryTokenAuth
}

// RegistryTokenAuth is registry:2's token auth section.
type RegistryTokenAuth struct {
	Realm          string // the token server's URL
	Service        string
	Issuer         string
	RootCertBundle string // PEM file with the certificate that signs tokens
}

// Registry is a running (or stopped) docker-registry, distribution 2.8.
type Registry struct {
	t      testing.TB
	bin    string
	dir    string
	config string
	port   int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// StartRegistry starts the Debian docker-registry from a temp dir on a
// loopback port and stops it at test cleanup. It skips (fails under CI)
// when the package is missing.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := Need(t, "docker-registry", "docker-registry")
	dir := t.TempDir()
	r := &Registry{t: t, bin: bin, dir: dir, config: filepath.Join(dir, "config.yml"), port: FreePort(t)}
	if err := os.MkdirAll(r.Root(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.config, []byte(r.configYAML(opts)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

func (r *Registry) configYAML(o RegistryOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n")
	if !o.NoBlobCache {
		b.WriteString("  cache:\n    blobdescriptor: inmemory\n")
	}
	fmt.Fprintf(&b, "  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n", r.Root())
	b.WriteString("  maintenance:\n    uploadpurging:\n      enabled: false\n")
	fmt.Fprintf(&b, "http:\n  addr: 127.0.0.1:%d\n  secret: labtest-secret\n", r.port)
	b.WriteString("health:\n  storagedriver:\n    enabled: false\n")
	switch {
	case o.Htpasswd != "":
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: labtest\n    path: %s\n", o.Htpasswd)
	case o.Token != nil:
		fmt.Fprintf(&b, "auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			o.Token.Realm, o.Token.Service, o.Token.Issuer, o.Token.RootCertBundle)
	}
	return b.String()
}

// URL is the registry's base URL, e.g. "http://127.0.0.1:41234".
func (r *Registry) URL() string { return "http://" + r.Host() }

// Host is "127.0.0.1:port".
func (r *Registry) Host() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Root is the storage root directory (docker/registry/v2/... lies below).
func (r *Registry) Root() string { return filepath.Join(r.dir, "storage") }

// Config is the path of the registry's config.yml.
func (r *Registry) Config() string { return r.config }

// BlobData is the path of a blob's data file on disk.
func (r *Registry) BlobData(digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(r.Root(), "docker", "registry", "v2", "blobs", alg, hex[:2], hex, "data")
}

// Start starts the registry (again) on its port and root and waits until
// /v2/ answers.
func (r *Registry) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.t.Fatal("registry already running")
	}
	logf, err := os.OpenFile(filepath.Join(r.dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "serve", r.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = r.dir
	if err := cmd.Start(); err != nil {
		logf.Close()
		r.t.Fatalf("starting docker-registry: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	r.cmd, r.done, r.log = cmd, done, logf
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			r.cmd = nil
			r.t.Fatalf("docker-registry exited at start:\n%s", r.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL()+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			return // 200, or 401 when auth is on: it answers
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("docker-registry did not answer on %s: %v\n%s", r.URL(), err, r.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the registry with SIGTERM (SIGKILL after 10 s). It is safe to
// call when stopped.
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
	r.log.Close()
}

// GarbageCollect runs `docker-registry garbage-collect [flags] CONFIG`;
// the registry must be stopped. It returns the collector's output.
func (r *Registry) GarbageCollect(t testing.TB, flags ...string) string {
	t.Helper()
	r.mu.Lock()
	running := r.cmd != nil
	r.mu.Unlock()
	if running {
		t.Fatal("GarbageCollect: stop the registry first")
	}
	args := append(append([]string{"garbage-collect"}, flags...), r.config)
	out, err := exec.Command(r.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker-registry %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (r *Registry) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
