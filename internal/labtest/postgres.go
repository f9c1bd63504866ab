package labtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PostgresBinDir is where Debian's postgresql-15 keeps initdb, postgres,
// pg_dump and pg_restore (off PATH).
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// Postgres is a throwaway PostgreSQL 15 server on a loopback port.
type Postgres struct {
	Host     string
	Port     int
	User     string // the superuser, "postgres"
	Password string
	// BinDir holds pg_dump, pg_restore and psql of the same version.
	BinDir string
	// Started is when the server process was started.
	Started time.Time

	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// StartPostgres initialises a cluster in a temp dir and starts postgres on
// a loopback port with password (scram) authentication. PostgreSQL refuses
// to run as root, so under root both run as the postgres user through the
// process credentials, in a directory that user owns. The server is stopped
// with SIGTERM at test cleanup.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	initdb := filepath.Join(PostgresBinDir, "initdb")
	if _, err := os.Stat(initdb); err != nil {
		initdb = Need(t, "initdb", "postgresql-15")
	}
	bin := filepath.Dir(initdb)

	// t.TempDir is 0700 root: the postgres user could not reach it.
	dir, err := os.MkdirTemp("", "labtest-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("postgres refuses root and there is no postgres user: %v (install postgresql-15)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p := &Postgres{Host: "127.0.0.1", User: "postgres", Password: "labtest-pg-secret", BinDir: bin, exited: make(chan struct{})}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	data := filepath.Join(dir, "data")
	run := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(name, args...)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		c.Dir = dir
		c.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		return c
	}
	initStart := time.Now()
	c := run(initdb, "-D", data, "-U", p.User, "--pwfile", pwfile, "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	os.Remove(pwfile)
	initTook := time.Since(initStart)

	p.Port = FreePort(t)
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = run(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses="+p.Host,
		"-c", "port="+strconv.Itoa(p.Port),
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off",
		"-c", "max_connections=50")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	p.Started = time.Now()
	go func() { p.cmd.Wait(); logf.Close(); close(p.exited) }()
	t.Cleanup(p.Stop)
	if err := waitTCP(p.Addr(), p.exited, 30*time.Second); err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("postgres: %v\n%s", err, log)
	}
	// Listening is not accepting: wait out "the database system is starting up".
	for i := 0; ; i++ {
		err := exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", p.Host, "-p", strconv.Itoa(p.Port)).Run()
		if err == nil {
			break
		}
		if i > 500 {
			t.Fatalf("postgres on %s is not ready: %v", p.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("postgres started at %s on %s (initdb %s, ready %s after start; data %s)",
		p.Started.Format(time.RFC3339Nano), p.Addr(), initTook.Round(time.Millisecond), time.Since(p.Started).Round(time.Millisecond), data)
	return p
}

// Addr is host:port.
func (p *Postgres) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// DSN is a connection URL for database db.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", p.User, p.Password, p.Addr(), db)
}

// Stop ends the server with SIGTERM (smart shutdown) and waits for it.
func (p *Postgres) Stop() { p.signal(syscall.SIGTERM) }

// Kill ends the server abruptly (SIGKILL to its process group), as a crash
// would.
func (p *Postgres) Kill() { p.signal(syscall.SIGKILL) }

func (p *Postgres) signal(sig syscall.Signal) {
	p.stopOnce.Do(func() {
		if sig == syscall.SIGKILL {
			syscall.Kill(-p.cmd.Process.Pid, sig)
		} else {
			p.cmd.Process.Signal(sig)
		}
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	})
}

// waitTCP waits until addr accepts a connection, the process exits, or
// timeout passes.
func waitTCP(addr string, exited <-chan struct{}, timeout time.Duration) error {
	return waitListening("tcp", addr, exited, timeout)
}

// waitListening waits until addr on network ("tcp", "unix") accepts a
// connection, the process exits, or timeout passes.
func waitListening(network, addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s after %s", addr, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
