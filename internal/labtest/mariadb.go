package labtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MariaDB is a throwaway MariaDB 10.11 server on a loopback port.
type MariaDB struct {
	Host string
	Port int
	// Socket is the server's unix socket, where root logs in without a
	// password (tests use it to create users).
	Socket string
	// Started is when the server process was started.
	Started time.Time

	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// StartMariaDB initialises a data directory with mariadb-install-db and
// starts mariadbd on a loopback port from a temp dir; root@localhost has
// no password and reaches the server through Socket. The server is stopped
// with SIGTERM at test cleanup.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	install := Need(t, "mariadb-install-db", "mariadb-server")
	mariadbd := Need(t, "mariadbd", "mariadb-server")
	dir, err := os.MkdirTemp("", "labtest-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	args := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	initStart := time.Now()
	c := exec.Command(install, args...)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	initTook := time.Since(initStart)
	m := &MariaDB{Host: "127.0.0.1", Port: FreePort(t), Socket: filepath.Join(dir, "mysqld.sock"), exited: make(chan struct{})}
	logPath := filepath.Join(dir, "mariadbd.log")
	sargs := []string{"--no-defaults", "--datadir=" + data,
		"--socket=" + m.Socket, "--port=" + strconv.Itoa(m.Port), "--bind-address=" + m.Host,
		"--pid-file=" + filepath.Join(dir, "mariadbd.pid"), "--log-error=" + logPath,
		"--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0",
		"--character-set-server=utf8mb4"}
	if os.Geteuid() == 0 {
		sargs = append(sargs, "--user=root")
	}
	m.cmd = exec.Command(mariadbd, sargs...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting mariadbd: %v", err)
	}
	m.Started = time.Now()
	go func() { m.cmd.Wait(); close(m.exited) }()
	t.Cleanup(m.Stop)
	// mariadbd may accept TCP before its socket exists; tests create users
	// through the socket, so wait for both.
	for _, l := range [][2]string{{"tcp", m.Addr()}, {"unix", m.Socket}} {
		if err := waitListening(l[0], l[1], m.exited, 30*time.Second); err != nil {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("mariadbd: %v\n%s", err, log)
		}
	}
	t.Logf("mariadb started at %s on %s (mariadb-install-db %s, listening %s after start; data %s)",
		m.Started.Format(time.RFC3339Nano), m.Addr(), initTook.Round(time.Millisecond), time.Since(m.Started).Round(time.Millisecond), data)
	return m
}

// Addr is host:port.
func (m *MariaDB) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// Stop ends the server with SIGTERM and waits for it.
func (m *MariaDB) Stop() { m.signal(syscall.SIGTERM) }

// Kill ends the server abruptly (SIGKILL), as a crash would.
func (m *MariaDB) Kill() { m.signal(syscall.SIGKILL) }

func (m *MariaDB) signal(sig syscall.Signal) {
	m.stopOnce.Do(func() {
		m.cmd.Process.Signal(sig)
		select {
		case <-m.exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-m.exited
		}
	})
}
