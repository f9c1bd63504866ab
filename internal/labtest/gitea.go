package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// GiteaVersion is the Gitea release scripts/test-deps builds.
const GiteaVersion = "1.22.6"

// Gitea is a running Gitea (the stand-in for Forgejo's package registry):
// SQLite, loopback HTTP, packages and the container registry enabled, one
// admin user with a package read/write token.
type Gitea struct {
	// URL is the base URL, e.g. "http://127.3.4.5:41234" (no trailing slash).
	URL string
	// Owner is the admin user, the owner of the packages the tests push.
	Owner string
	// Password is Owner's password.
	Password string
	// Token is an access token of Owner with write:package scope.
	Token string
	// TokenFile holds Token and a newline, for --token-file.
	TokenFile string
	// RegistryHost is the container registry's host:port (the same server;
	// /v2/ with bearer tokens issued for basic Owner:Token).
	RegistryHost string

	t   testing.TB
	bin string
	dir string
	ini string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// GiteaBinary returns the Gitea binary the tests use: $LABOPS_GITEA, else
// gitea-1.22.6 in ${LABOPS_CACHE:-$HOME/.cache/labops}, where
// scripts/test-deps builds it; "" when there is none.
func GiteaBinary() string {
	p, _ := Cached("LABOPS_GITEA", "gitea-"+GiteaVersion, "")
	if fi, err := os.Stat(p); p == "" || err != nil || fi.Mode()&0o111 == 0 {
		return ""
	}
	return p
}

// giteaStaticRoot is the source tree next to the binary (gitea-src), whose
// templates and public files a build without bindata serves;
// $LABOPS_GITEA_SRC overrides it.
func giteaStaticRoot(bin string) string {
	if p := os.Getenv("LABOPS_GITEA_SRC"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(bin), "gitea-src")
}

// StartGitea starts Gitea from a temp dir on a loopback address: it writes
// app.ini, migrates the database, creates the admin user and its token
// with Gitea's own command line, starts `gitea web` and waits until it
// answers; it stops at test cleanup. Without the binary it skips (fails
// under CI=true), naming scripts/test-deps.
func StartGitea(t testing.TB) *Gitea {
	t.Helper()
	bin := GiteaBinary()
	if bin == "" {
		msg := "gitea " + GiteaVersion + " not found (set LABOPS_GITEA, or run scripts/test-deps, which builds it into ~/.cache/labops in about 18 minutes)"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	static := giteaStaticRoot(bin)
	if _, err := os.Stat(filepath.Join(static, "templates")); err != nil {
		t.Fatalf("gitea needs its source tree for STATIC_ROOT_PATH (set LABOPS_GITEA_SRC): %v", err)
	}
	dir := t.TempDir()
	addr := FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	g := &Gitea{
		URL:          "http://" + addr,
		Owner:        "labops",
		Password:     randomHex(t, 16),
		TokenFile:    filepath.Join(dir, "token"),
		RegistryHost: addr,
		t:            t,
		bin:          bin,
		dir:          dir,
		ini:          filepath.Join(dir, "custom", "conf", "app.ini"),
	}
	if err := os.MkdirAll(filepath.Dir(g.ini), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.ini, []byte(g.appIni(host, port, static)), 0o600); err != nil {
		t.Fatal(err)
	}
	g.run(t, "migrate")
	g.run(t, "admin", "user", "create", "--username", g.Owner, "--password", g.Password,
		"--email", g.Owner+"@labops.invalid", "--admin", "--must-change-password=false")
	// --raw prints the token alone on its line; log lines may come first.
	out := g.run(t, "admin", "user", "generate-access-token", "--username", g.Owner,
		"--token-name", "labops", "--scopes", "write:package", "--raw")
	for line := range strings.Lines(out) {
		if line = strings.TrimSpace(line); len(line) >= 20 && !strings.ContainsAny(line, " \t") {
			g.Token = line
		}
	}
	if g.Token == "" {
		t.Fatalf("gitea generate-access-token printed no token (%d bytes of output)", len(out))
	}
	if err := os.WriteFile(g.TokenFile, []byte(g.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	g.Start()
	return g
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (g *Gitea) appIni(host, port, static string) string {
	runUser := "root"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	var b strings.Builder
	fmt.Fprintf(&b, "APP_NAME = labtest\nRUN_MODE = prod\nRUN_USER = %s\nWORK_PATH = %s\n", runUser, g.dir)
	if os.Getuid() == 0 {
		// Gitea refuses root unless told; test containers run as root.
		b.WriteString("I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n")
	}
	fmt.Fprintf(&b, `
[server]
PROTOCOL = http
HTTP_ADDR = %[1]s
HTTP_PORT = %[2]s
DOMAIN = %[1]s
ROOT_URL = http://%[1]s:%[2]s/
APP_DATA_PATH = %[3]s/data
STATIC_ROOT_PATH = %[4]s
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
OFFLINE_MODE = true

[database]
DB_TYPE = sqlite3
PATH = %[3]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[security]
INSTALL_LOCK = true
SECRET_KEY = %[5]s
INTERNAL_TOKEN = %[6]s
PASSWORD_HASH_ALGO = pbkdf2

[oauth2]
ENABLED = false

[packages]
ENABLED = true

[repository]
ROOT = %[3]s/repos

[mailer]
ENABLED = false

[service]
DISABLE_REGISTRATION = true

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db

[cron.cleanup_packages]
; Only RunCron runs it, and then it removes every blob no version
; references that was stored before the current second, not only those a
; day old (go-ini ignores a zero duration, hence 1ns).
RUN_AT_START = false
OLDER_THAN = 1ns

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = %[3]s/log
`, host, port, g.dir, static, randomHex(g.t, 32), "labtest."+randomHex(g.t, 32))
	return b.String()
}

// command builds `gitea --config app.ini --work-path dir ARGS...`.
func (g *Gitea) command(args ...string) *exec.Cmd {
	cmd := exec.Command(g.bin, append([]string{"--config", g.ini, "--work-path", g.dir}, args...)...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "HOME="+g.dir, "GITEA_WORK_DIR="+g.dir)
	if os.Getuid() == 0 {
		cmd.Env = append(cmd.Env, "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true")
	}
	return cmd
}

// run runs one Gitea command line and returns its standard output. Its
// output is shown only on failure (the token command prints the token).
func (g *Gitea) run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := g.command(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gitea %s: %v\n%s\n%s", args[0], err, out, stderr.String())
	}
	return string(out)
}

// Start starts `gitea web` (again) and waits until its API answers.
func (g *Gitea) Start() {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd != nil {
		g.t.Fatal("gitea already running")
	}
	logf, err := os.OpenFile(filepath.Join(g.dir, "gitea-web.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		g.t.Fatal(err)
	}
	cmd := g.command("web")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		g.t.Fatalf("starting gitea: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	g.cmd, g.done, g.log = cmd, done, logf
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			g.cmd = nil
			g.t.Fatalf("gitea exited at start:\n%s", g.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.URL+"/api/v1/version", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("GET /api/v1/version: HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gitea did not answer on %s: %v\n%s", g.URL, err, g.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops Gitea with SIGTERM (SIGKILL after 10 s); safe when stopped.
func (g *Gitea) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
	}
	g.cmd = nil
	g.log.Close()
}

// RunCron runs a cron task (e.g. "cleanup_packages", which deletes the
// blobs no package version references any more) through the admin API;
// Gitea answers when the task has finished.
func (g *Gitea) RunCron(t testing.TB, task string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.URL+"/api/v1/admin/cron/"+task, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(g.Owner, g.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("gitea cron %s: %v", task, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("gitea cron %s: HTTP %d", task, resp.StatusCode)
	}
}

// BlobPath is where Gitea stores a blob's bytes (packages/ab/cd/abcd...);
// cleanup_packages removes the file once no version references the blob.
func (g *Gitea) BlobPath(digest string) string {
	_, hex, _ := strings.Cut(digest, ":")
	if len(hex) < 4 {
		return ""
	}
	return filepath.Join(g.dir, "data", "packages", hex[:2], hex[2:4], hex)
}

// Dir is Gitea's work dir (app.ini under custom/conf, data, logs).
func (g *Gitea) Dir() string { return g.dir }

func (g *Gitea) logTail() string {
	var out []byte
	for _, name := range []string{"gitea-web.log", filepath.Join("log", "gitea.log")} {
		b, _ := os.ReadFile(filepath.Join(g.dir, name))
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		out = append(append(out, "== "+name+"\n"...), b...)
	}
	return string(out)
}
