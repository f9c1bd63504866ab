package labtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// writeFiles lays out the stack's directory:
//
//	postfix/   main.cf, master.cf, vmailbox (Postfix's config directory)
//	queue/     queue_directory (root-owned; Postfix makes its subdirectories)
//	data/      data_directory (owned by postfix)
//	dovecot/   dovecot.conf, users, run/ (base_dir)
//	haproxy/   haproxy.cfg
//	mail/      Maildirs (owned by nobody; Postfix's virtual delivers, Dovecot reads)
//	tls/       cert.pem, key.pem
//	log/       postfix.log, dovecot.log, haproxy.log
func (s *MailStack) writeFiles(o MailStackOptions) error {
	postfixUID, postfixGID, err := lookupUser("postfix")
	if err != nil {
		return err
	}
	for _, d := range []struct {
		path     string
		uid, gid int
		mode     os.FileMode
	}{
		{"postfix", 0, 0, 0o755}, {"queue", 0, 0, 0o755}, {"data", postfixUID, postfixGID, 0o700},
		{"dovecot", 0, 0, 0o755}, {"dovecot/run", 0, 0, 0o755}, {"haproxy", 0, 0, 0o755},
		{"mail", 65534, 65534, 0o700}, {"tls", 0, 0, 0o755}, {"log", 0, 0, 0o755},
	} {
		p := filepath.Join(s.Dir, d.path)
		if err := os.MkdirAll(p, d.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			return err
		}
	}
	if err := writeSelfSigned(s.CertFile, filepath.Join(s.Dir, "tls", "key.pem"), s.Hostname, s.IP); err != nil {
		return err
	}
	files := map[string]string{
		"postfix/main.cf":      s.postfixMain(o),
		"postfix/master.cf":    s.postfixMaster(),
		"postfix/vmailbox":     s.User + " probe/Maildir/\n",
		"dovecot/dovecot.conf": s.dovecotConf(),
		// user:password:uid:gid:gecos:home:shell; nobody owns the mail.
		"dovecot/users":       fmt.Sprintf("%s:{PLAIN}%s:65534:65534::%s::\n", s.User, s.Password, filepath.Dir(s.MaildirPath)),
		"haproxy/haproxy.cfg": s.haproxyConf(o),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func lookupUser(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s (installed by the postfix package): %w", name, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func hostPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

func port(addr string) string {
	_, p := hostPort(addr)
	return p
}

func (s *MailStack) postfixMain(o MailStackOptions) string {
	tls := filepath.Join(s.Dir, "tls")
	lines := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(s.Dir, "queue"),
		"data_directory = " + filepath.Join(s.Dir, "data"),
		"mail_owner = postfix",
		"setgid_group = postdrop",
		"myhostname = " + s.Hostname,
		"mydomain = " + s.Domain,
		"myorigin = $mydomain",
		"mydestination =",
		"inet_interfaces = all",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		// Every client gets postscreen's pre-greet test (the multi-line
		// 220- greeting and the pause), loopback too.
		"postscreen_access_list =",
		"alias_maps =",
		"alias_database =",
		"biff = no",
		"smtputf8_enable = no",
		"smtpd_banner = $myhostname ESMTP labtest",
		// The log goes to a file under the stack's directory, through the
		// postlog service in master.cf.
		"maillog_file_prefixes = " + s.Dir,
		"maillog_file = " + filepath.Join(s.Dir, "log", "postfix.log"),
		"virtual_mailbox_domains = " + s.Domain,
		"virtual_mailbox_maps = texthash:" + filepath.Join(s.postfixConf, "vmailbox"),
		// Postfix's virtual(8) delivers into the Maildir Dovecot reads
		// (the trailing slash of the map's value means Maildir).
		"virtual_mailbox_base = " + filepath.Join(s.Dir, "mail"),
		"virtual_uid_maps = static:65534",
		"virtual_gid_maps = static:65534",
		"smtpd_sasl_type = dovecot",
		"smtpd_sasl_path = inet:" + s.authAddr(),
		"smtpd_tls_cert_file = " + filepath.Join(tls, "cert.pem"),
		"smtpd_tls_key_file = " + filepath.Join(tls, "key.pem"),
		"smtpd_tls_security_level = may",
		"smtpd_tls_auth_only = yes",
		"smtp_tls_security_level = none",
		fmt.Sprintf("postscreen_greet_wait = %ds", max(1, int(o.GreetWait.Round(time.Second)/time.Second))),
		"postscreen_cache_map = btree:$data_directory/postscreen_cache",
		// Quick test turnaround, nothing else differs from production.
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 5s",
	}
	return strings.Join(lines, "\n") + "\n"
}

// authAddr is Dovecot's auth listener for Postfix's SASL.
func (s *MailStack) authAddr() string { return s.auth }

// postfixMaster is master.cf: every service with chroot = n (a chrooted
// service without copies of /etc/services is the classic source of
// "Servname not supported"), listeners on the stack's loopback ports.
func (s *MailStack) postfixMaster() string {
	sub := " -o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes" +
		" -o smtpd_client_restrictions=permit_sasl_authenticated,reject" +
		" -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
	proxy := " -o smtpd_upstream_proxy_protocol=haproxy"
	lines := []string{
		"# service type private unpriv chroot wakeup maxproc command",
		s.SMTP + " inet n - n - - smtpd -o syslog_name=postfix/stock-smtp",
		s.Submission + " inet n - n - - smtpd -o syslog_name=postfix/stock-submission" + sub,
		s.Health + " inet n - n - - smtpd -o syslog_name=postfix/health",
		s.AltSMTP + " inet n - n - 1 postscreen -o syslog_name=postfix/alt-smtp -o postscreen_upstream_proxy_protocol=haproxy",
		"smtpd pass - - n - - smtpd -o syslog_name=postfix/alt-smtp",
		s.AltSubmission + " inet n - n - - smtpd -o syslog_name=postfix/alt-submission" + proxy + sub,
		"dnsblog unix - - n - 0 dnsblog",
		"tlsproxy unix - - n - 0 tlsproxy",
		"pickup unix n - n 60 1 pickup",
		"cleanup unix n - n - 0 cleanup",
		"qmgr unix n - n 300 1 qmgr",
		"tlsmgr unix - - n 1000? 1 tlsmgr",
		"rewrite unix - - n - - trivial-rewrite",
		"bounce unix - - n - 0 bounce",
		"defer unix - - n - 0 bounce",
		"trace unix - - n - 0 bounce",
		"verify unix - - n - 1 verify",
		"flush unix n - n 1000? 0 flush",
		"proxymap unix - - n - - proxymap",
		"proxywrite unix - - n - 1 proxymap",
		"smtp unix - - n - - smtp",
		"relay unix - - n - - smtp",
		"showq unix n - n - - showq",
		"error unix - - n - - error",
		"retry unix - - n - - error",
		"discard unix - - n - - discard",
		"local unix - n n - - local",
		"virtual unix - n n - - virtual",
		"lmtp unix - - n - - lmtp",
		"anvil unix - - n - 1 anvil",
		"scache unix - - n - 1 scache",
		"postlog unix-dgram n - n - 1 postlogd",
	}
	return strings.Join(lines, "\n") + "\n"
}

func (s *MailStack) dovecotConf() string {
	d := filepath.Join(s.Dir, "dovecot")
	tls := filepath.Join(s.Dir, "tls")
	return fmt.Sprintf(`# labtest throwaway Dovecot
instance_name = %[1]s
base_dir = %[2]s/run
state_dir = %[2]s/run
protocols = imap
listen = %[3]s
log_path = %[4]s
ssl = yes
ssl_cert = <%[5]s/cert.pem
ssl_key = <%[5]s/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
haproxy_trusted_networks = %[6]s/32
haproxy_timeout = 3s
mail_location = maildir:~/Maildir
first_valid_uid = 1000
mail_uid = 65534
mail_gid = 65534
auth_verbose = yes
login_trusted_networks =
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[2]s/users
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[2]s/users
}
service imap-login {
  inet_listener imap {
    address = %[3]s
    port = %[7]s
  }
  inet_listener imaps {
    address = %[3]s
    port = %[8]s
    ssl = yes
  }
  inet_listener imap_haproxy {
    address = %[3]s
    port = %[9]s
    haproxy = yes
  }
}
service auth {
  inet_listener auth_postfix {
    address = %[3]s
    port = %[10]s
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`, filepath.Base(s.Dir), d, s.IP, s.DovecotLogPath(), tls, s.LBSource,
		port(s.IMAP), port(s.IMAPS), port(s.AltIMAP), port(s.auth))
}

// haproxyConf is HAProxy in TCP mode: a public frontend per service, each
// to its PROXY-requiring alt port with send-proxy-v2, from LBSource.
func (s *MailStack) haproxyConf(o MailStackOptions) string {
	var b strings.Builder
	b.WriteString("# labtest throwaway HAProxy: public frontends -> PROXY v2 alt listeners\n")
	b.WriteString("global\n    log stdout format raw local0 info\n    maxconn 256\n")
	if o.HealthCheck == CheckNeverSendLocal {
		b.WriteString("    pp2-never-send-local\n")
	}
	b.WriteString(`
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 1m
    timeout server 1m
    timeout check 2s

frontend monitor
    mode http
    bind ` + s.HAProxyMonitor + `
    monitor-uri /healthz
`)
	for _, be := range []struct{ name, public, alt, health string }{
		{"smtp", s.PublicSMTP, s.AltSMTP, s.Health},
		{"submission", s.PublicSubmission, s.AltSubmission, s.Health},
		{"imap", s.PublicIMAP, s.AltIMAP, s.IMAP},
	} {
		fmt.Fprintf(&b, "\nfrontend %s_public\n    bind %s\n    default_backend %s_alt\n", be.name, be.public, be.name)
		fmt.Fprintf(&b, "\nbackend %s_alt\n    source %s\n", be.name, s.LBSource)
		check := " check"
		if o.CheckInterval > 0 {
			check += fmt.Sprintf(" inter %dms", o.CheckInterval.Milliseconds())
		}
		switch o.HealthCheck {
		case CheckHealthPort:
			check += " port " + port(be.health)
		case CheckLinger:
			b.WriteString("    option tcp-check\n    tcp-check connect linger\n")
		case CheckNone:
			check = ""
		}
		fmt.Fprintf(&b, "    server %s %s send-proxy-v2%s\n", be.name, be.alt, check)
	}
	return b.String()
}

// writeSelfSigned writes a throwaway ECDSA certificate for host and ip.
func writeSelfSigned(certFile, keyFile, host, ip string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		IPAddresses:           []net.IP{net.ParseIP(ip)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
