package labtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsProc is one DNS server process started from a temp dir: started,
// stopped (to break it in a test) and started again on the same addresses.
type dnsProc struct {
	t     testing.TB
	name  string
	dir   string
	argv  []string
	ready func(ctx context.Context) error

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *dnsProc) logPath() string { return filepath.Join(p.dir, p.name+".log") }

// start runs the server and waits until ready says it serves.
func (p *dnsProc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatalf("%s already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last error
	for {
		select {
		case <-done:
			p.cmd = nil
			p.t.Fatalf("%s exited at start:\n%s", p.name, p.tail())
		case <-ctx.Done():
			p.t.Fatalf("%s not ready after 20s (%v):\n%s", p.name, last, p.tail())
		default:
		}
		if last = p.ready(ctx); last == nil {
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM (SIGKILL after 10s) and waits.
func (p *dnsProc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	p.cmd = nil
}

func (p *dnsProc) tail() string {
	b, _ := os.ReadFile(p.logPath())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// NewTSIGSecret returns a random base64 HMAC-SHA256 secret.
func NewTSIGSecret(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// soaReady returns a readiness check: addr answers the SOA of zone
// authoritatively.
func soaReady(addr, zone string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
		c := &dns.Client{Timeout: 300 * time.Millisecond}
		r, _, err := c.ExchangeContext(ctx, m, addr)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			return errors.New("answered " + dns.RcodeToString[r.Rcode])
		}
		return nil
	}
}

// tcpReady returns a readiness check: addr accepts TCP connections.
func dnsTCPReady(addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		m := new(dns.Msg)
		m.SetQuestion("version.bind.", dns.TypeTXT)
		m.Question[0].Qclass = dns.ClassCHAOS
		c := &dns.Client{Net: "tcp", Timeout: 300 * time.Millisecond}
		_, _, err := c.ExchangeContext(ctx, m, addr)
		return err
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
