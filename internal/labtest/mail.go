package labtest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
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

// HealthCheck selects how the stack's HAProxy health-checks the servers it
// sends PROXY v2 to.
type HealthCheck int

const (
	// CheckHealthPort (the zero value, the fix) sends each check to the
	// plain health port (`check port N`): no PROXY header, no fatal.
	CheckHealthPort HealthCheck = iota
	// CheckProxyPort is the incident: a bare `check` on the PROXY-requiring
	// port. Each check sends a PROXY v2 LOCAL header and closes with a
	// reset; Postfix's smtpd exits with smtpd_peer_hostaddr_to_sockaddr
	// fatals and master throttles the service.
	CheckProxyPort
	// CheckNeverSendLocal keeps the checks on the PROXY port but sets the
	// global pp2-never-send-local (the second fix).
	CheckNeverSendLocal
	// CheckLinger keeps the checks on the PROXY port with `option tcp-check`
	// and `tcp-check connect linger`, which closes with FIN (the third fix).
	CheckLinger
	// CheckNone turns health checks off.
	CheckNone
)

// LBSource is the loopback address the stack's HAProxy connects from, so
// the backends log a client address that is recognizably the load
// balancer's (and not the test's, which is 127.0.0.1).
const LBSource = "127.0.0.2"

// MailStackOptions configure StartMailStack. The zero value is a healthy
// stack: HAProxy checks the plain health port.
type MailStackOptions struct {
	// HealthCheck is HAProxy's health-check style.
	HealthCheck HealthCheck
	// CheckInterval is HAProxy's `inter`; zero keeps HAProxy's default (2 s).
	CheckInterval time.Duration
	// GreetWait is postscreen_greet_wait, the pause before postscreen hands
	// a new client to smtpd; zero means 1 s (Postfix's default is 6 s).
	GreetWait time.Duration
}

// MailStack is a running throwaway mail system on loopback: Postfix (with
// postscreen), Dovecot and HAProxy in TCP mode sending PROXY v2, each from
// its own config in a private directory. Every address is "IP:port".
type MailStack struct {
	// Dir holds every config, queue, mailbox and log of the stack.
	Dir string
	// IP is the loopback address Postfix and Dovecot listen on.
	IP string
	// LBSource is the address HAProxy connects to the backends from.
	LBSource string

	// SMTP is Postfix's stock smtpd: no PROXY, STARTTLS offered.
	SMTP string
	// Submission is the stock submission smtpd: no PROXY, STARTTLS
	// required before AUTH (SASL through Dovecot).
	Submission string
	// AltSMTP is postscreen requiring PROXY v2 (the public port 25 path).
	AltSMTP string
	// AltSubmission is a submission smtpd requiring PROXY v2.
	AltSubmission string
	// Health is a plain smtpd without PROXY, for load balancer checks.
	Health string

	// IMAP is Dovecot's plain IMAP listener (STARTTLS offered).
	IMAP string
	// IMAPS is Dovecot's implicit-TLS IMAP listener.
	IMAPS string
	// AltIMAP is Dovecot's `haproxy = yes` listener (plain IMAP after the
	// PROXY header); only LBSource is a trusted network.
	AltIMAP string

	// PublicSMTP, PublicSubmission and PublicIMAP are HAProxy's frontends,
	// forwarding with PROXY v2 to AltSMTP, AltSubmission and AltIMAP.
	PublicSMTP       string
	PublicSubmission string
	PublicIMAP       string
	// HAProxyMonitor answers HTTP 200 on /healthz while HAProxy runs.
	HAProxyMonitor string
	// HAProxyConfig is the path of the haproxy.cfg the stack runs.
	HAProxyConfig string

	// Domain is the mail domain the stack accepts (labtest.example).
	Domain string
	// User is the test mailbox's login and address; Password its password.
	User     string
	Password string
	// MaildirPath is User's Maildir (cur/, new/, tmp/ below it).
	MaildirPath string
	// CertFile is the PEM certificate of every TLS listener (self-signed,
	// for the name "mail.labtest.example" and the IP).
	CertFile string
	// Hostname is Postfix's myhostname and the certificate's DNS name.
	Hostname string

	postfixConf string
	auth        string // Dovecot's auth listener for Postfix's SASL
	stopOnce    sync.Once
	dovecot     *exec.Cmd
	dovecotDone chan struct{}
	haproxy     *exec.Cmd
	haproxyDone chan struct{}
}

// mail stack process names for Need.
const (
	mailDomain   = "labtest.example"
	mailHostname = "mail.labtest.example"
)

// StartMailStack starts Postfix, Dovecot and HAProxy from a fresh directory
// under /tmp (its parents must be traversable by the postfix and nobody
// users, which a 0700 t.TempDir() is not) and stops them at test cleanup.
// Postfix must be started by root; without root, or without the postfix,
// dovecot-imapd or haproxy packages, the test skips (fails under CI=true).
// Readiness is probed on the plain listeners only: a bare connection to a
// PROXY listener is the very traffic under test.
func StartMailStack(t testing.TB, opts MailStackOptions) *MailStack {
	t.Helper()
	postfixBin := Need(t, "postfix", "postfix")
	dovecotBin := Need(t, "dovecot", "dovecot-imapd")
	haproxyBin := Need(t, "haproxy", "haproxy")
	if os.Geteuid() != 0 {
		msg := "the mail stack needs root: Postfix must be started by root (it drops privileges itself)"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if opts.GreetWait == 0 {
		opts.GreetWait = time.Second
	}
	reapStaleMailStacks()
	dir, err := os.MkdirTemp("/tmp", "labtest-mail-")
	if err != nil {
		t.Fatalf("mail stack dir: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The owner's pid lets a later run stop a stack whose test was killed.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newMailStack(t, dir)
	t.Cleanup(func() {
		s.Stop()
		os.RemoveAll(dir)
	})
	if err := s.writeFiles(opts); err != nil {
		t.Fatalf("mail stack: %v", err)
	}

	start := time.Now()
	s.startDovecot(t, dovecotBin)
	s.startPostfix(t, postfixBin)
	s.startHAProxy(t, haproxyBin)
	s.waitReady(t)
	t.Logf("mail stack ready in %v (dir %s)", time.Since(start).Round(time.Millisecond), dir)
	return s
}

func newMailStack(t testing.TB, dir string) *MailStack {
	ip := freeLoopbackIP(t)
	// Hold every chosen port until all are chosen: a port closed at once
	// may be handed out again for the next listener of the same stack.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	port := func() string {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("finding a free port on %s: %v", ip, err)
		}
		held = append(held, l)
		return l.Addr().String()
	}
	s := &MailStack{
		Dir:      dir,
		IP:       ip,
		LBSource: LBSource,
		Domain:   mailDomain,
		Hostname: mailHostname,
		User:     "probe@" + mailDomain,
		Password: "labtest-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36),

		SMTP: port(), Submission: port(), AltSMTP: port(), AltSubmission: port(), Health: port(),
		IMAP: port(), IMAPS: port(), AltIMAP: port(),
		PublicSMTP: port(), PublicSubmission: port(), PublicIMAP: port(), HAProxyMonitor: port(),
		auth: port(),
	}
	s.postfixConf = filepath.Join(dir, "postfix")
	s.HAProxyConfig = filepath.Join(dir, "haproxy", "haproxy.cfg")
	s.CertFile = filepath.Join(dir, "tls", "cert.pem")
	s.MaildirPath = filepath.Join(dir, "mail", "probe", "Maildir")
	return s
}

// freeLoopbackIP returns a random 127.a.b.c (a ≥ 1, never LBSource).
func freeLoopbackIP(t testing.TB) string {
	t.Helper()
	host, _, err := net.SplitHostPort(FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return host
}

// PostfixLogPath is the file Postfix logs to (maillog_file).
func (s *MailStack) PostfixLogPath() string { return filepath.Join(s.Dir, "log", "postfix.log") }

// DovecotLogPath is the file Dovecot logs to.
func (s *MailStack) DovecotLogPath() string { return filepath.Join(s.Dir, "log", "dovecot.log") }

// HAProxyLogPath is the file HAProxy's output and traffic log go to.
func (s *MailStack) HAProxyLogPath() string { return filepath.Join(s.Dir, "log", "haproxy.log") }

// PostfixLog returns Postfix's log so far (its fatals included: Postfix
// tools write errors only to the log when stderr is not a terminal).
func (s *MailStack) PostfixLog() string { return readFile(s.PostfixLogPath()) }

// DovecotLog returns Dovecot's log so far.
func (s *MailStack) DovecotLog() string { return readFile(s.DovecotLogPath()) }

// HAProxyLog returns HAProxy's output so far.
func (s *MailStack) HAProxyLog() string { return readFile(s.HAProxyLogPath()) }

// PostfixLogLines returns the lines of Postfix's log that contain substr.
func (s *MailStack) PostfixLogLines(substr string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s.PostfixLog()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// CertPool returns a pool holding the stack's certificate, to verify its
// TLS listeners (ServerName: Hostname).
func (s *MailStack) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readFile(s.CertFile)))
	return pool
}

// TLSConfig returns a client TLS config that trusts the stack's
// certificate for Hostname.
func (s *MailStack) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CertPool(), ServerName: s.Hostname, MinVersion: tls.VersionTLS12}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func (s *MailStack) startDovecot(t testing.TB, bin string) {
	t.Helper()
	cmd := exec.Command(bin, "-F", "-c", filepath.Join(s.Dir, "dovecot", "dovecot.conf"))
	s.dovecot, s.dovecotDone = s.startChild(t, cmd, "dovecot.out")
}

func (s *MailStack) startHAProxy(t testing.TB, bin string) {
	t.Helper()
	// Check the config first: its errors are clearer than a failed start.
	if out, err := exec.Command(bin, "-c", "-f", s.HAProxyConfig).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, readFile(s.HAProxyConfig))
	}
	cmd := exec.Command(bin, "-db", "-f", s.HAProxyConfig)
	s.haproxy, s.haproxyDone = s.startChild(t, cmd, "haproxy.log")
}

// startChild starts a foreground daemon with its output in log/NAME, dying
// with the test process.
func (s *MailStack) startChild(t testing.TB, cmd *exec.Cmd, name string) (*exec.Cmd, chan struct{}) {
	t.Helper()
	out, err := os.OpenFile(filepath.Join(s.Dir, "log", name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the child holds its own copy
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return cmd, done
}

func (s *MailStack) startPostfix(t testing.TB, bin string) {
	t.Helper()
	out, err := s.postfix(bin, "start")
	if err != nil {
		t.Fatalf("postfix -c %s start: %v\n%s\npostfix log:\n%s", s.postfixConf, err, out, tail(s.PostfixLog(), 4000))
	}
}

// postfix runs `postfix -c CONF cmd` with its output captured (never the
// test's stdout: the daemons would inherit it and hold it open).
func (s *MailStack) postfix(bin, command string) (string, error) {
	cmd := exec.Command(bin, "-c", s.postfixConf, command)
	out, err := os.CreateTemp(s.Dir, "postfix-cmd-")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = s.Dir
	err = cmd.Run()
	return readFile(out.Name()), err
}

// waitReady waits for the plain listeners to greet and HAProxy's monitor to
// answer, failing with the logs after 15 s.
func (s *MailStack) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	checks := []struct{ addr, greeting string }{
		{s.SMTP, "220 "}, {s.Health, "220 "}, {s.Submission, "220 "}, {s.IMAP, "* OK"},
	}
	for _, c := range checks {
		for {
			err := expectGreeting(c.addr, c.greeting)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("mail stack: %s did not greet: %v\n%s", c.addr, err, s.logs())
			}
			s.checkAlive(t)
			time.Sleep(50 * time.Millisecond)
		}
	}
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get("http://" + s.HAProxyMonitor + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail stack: haproxy monitor %s: %v\n%s", s.HAProxyMonitor, err, s.logs())
		}
		s.checkAlive(t)
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *MailStack) checkAlive(t testing.TB) {
	t.Helper()
	for name, done := range map[string]chan struct{}{"dovecot": s.dovecotDone, "haproxy": s.haproxyDone} {
		select {
		case <-done:
			t.Fatalf("mail stack: %s exited at start\n%s", name, s.logs())
		default:
		}
	}
}

// expectGreeting connects to addr and reads one line that must start with
// prefix (a complete "220 " line for SMTP, "* OK" for IMAP).
func expectGreeting(addr, prefix string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "220-") {
			continue
		}
		if !strings.HasPrefix(line, prefix) {
			return fmt.Errorf("greeting %q", strings.TrimSpace(line))
		}
		if strings.HasPrefix(prefix, "220") {
			fmt.Fprint(c, "QUIT\r\n")
		} else {
			fmt.Fprint(c, "a LOGOUT\r\n")
		}
		return nil
	}
}

func (s *MailStack) logs() string {
	var b strings.Builder
	for _, f := range []string{"postfix.log", "dovecot.log", "dovecot.out", "haproxy.log"} {
		fmt.Fprintf(&b, "--- %s ---\n%s\n", f, tail(readFile(filepath.Join(s.Dir, "log", f)), 3000))
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Stop stops HAProxy, Postfix and Dovecot (at once, so about as long as
// Postfix takes). It is safe to call twice; cleanup calls it.
func (s *MailStack) Stop() {
	s.stopOnce.Do(func() {
		var wg sync.WaitGroup
		for _, p := range []struct {
			cmd  *exec.Cmd
			done chan struct{}
		}{{s.haproxy, s.haproxyDone}, {s.dovecot, s.dovecotDone}} {
			if p.cmd == nil {
				continue
			}
			wg.Go(func() { stopChild(p.cmd, p.done) })
		}
		wg.Go(func() { stopPostfix(s.postfixConf) })
		wg.Wait()
	})
}

func stopChild(cmd *exec.Cmd, done chan struct{}) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// stopPostfix stops the Postfix whose config is in conf, if it runs, and
// waits for its master to exit.
func stopPostfix(conf string) {
	pid := postfixMasterPID(conf)
	if pid <= 0 {
		return
	}
	cmd := exec.Command("postfix", "-c", conf, "stop")
	cmd.Run()
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processAlive reports whether pid runs (a zombie, which an init that does
// not reap leaves behind, does not).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(after, "Z") && !strings.HasPrefix(after, "X")
}

func postfixMasterPID(conf string) int {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(conf), "queue", "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// reapStaleMailStacks stops the Postfix of any stack whose test process is
// gone (killed before its cleanup ran) and removes its directory. Dovecot
// and HAProxy died with their parent already.
func reapStaleMailStacks() {
	dirs, _ := filepath.Glob("/tmp/labtest-mail-*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		stopPostfix(filepath.Join(d, "postfix"))
		os.RemoveAll(d)
	}
}
