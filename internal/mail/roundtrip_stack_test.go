package mail

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// memStack is an in-process mail system for fast tests: go-smtp accepts
// submission (STARTTLS on one port, implicit TLS on another, AUTH PLAIN),
// prepends a Received header in Postfix's form and delivers into
// go-imap's memory server, which serves IMAP over implicit TLS.
type memStack struct {
	SMTPAddr   string // STARTTLS (or plain) submission
	SMTPSAddr  string // implicit TLS submission
	MXAddr     string // plain SMTP without AUTH, as port 25 for relays
	PlainAddr  string // submission without TLS at all (no STARTTLS offered)
	IMAPAddr   string // implicit TLS
	CAFile     string
	User, Pass string
	Address    string // the mailbox's address
	imapUser   *imapmemserver.User
	drop       atomic.Bool  // accept messages but never deliver them
	delivered  atomic.Int32 // messages delivered
}

type memStackOptions struct {
	noIdle    bool // hide IDLE from the IMAP capabilities
	noUIDPlus bool // a server without UIDPLUS (no UID EXPUNGE)
}

func startMemStack(t *testing.T, o memStackOptions) *memStack {
	t.Helper()
	cert, caFile := rtTestCert(t)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	st := &memStack{CAFile: caFile, User: "probe@example.test", Pass: "s3cret", Address: "probe@example.test"}

	mem := imapmemserver.New()
	st.imapUser = imapmemserver.NewUser(st.User, st.Pass)
	if err := st.imapUser.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(st.imapUser)
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}
	if o.noUIDPlus {
		delete(caps, imap.CapUIDPlus)
	}
	isrv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		TLSConfig:    tlsCfg,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	il := rtListen(t)
	st.IMAPAddr = il.Addr().String()
	served := tls.NewListener(il, tlsCfg)
	if o.noIdle {
		served = hideIdle{served}
	}
	go isrv.Serve(served)
	t.Cleanup(func() { isrv.Close() })

	for _, kind := range []string{"submission", "submissions", "mx", "plain"} {
		be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &memSession{st: st, conn: c, mx: kind == "mx"}, nil })
		s := smtp.NewServer(be)
		s.Domain = "mx.example.test"
		if kind != "plain" {
			s.TLSConfig = tlsCfg
		}
		s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
		s.ErrorLog = log.New(io.Discard, "", 0)
		l := rtListen(t)
		switch kind {
		case "submissions":
			st.SMTPSAddr = l.Addr().String()
			go s.Serve(tls.NewListener(l, tlsCfg))
		case "mx":
			st.MXAddr = l.Addr().String()
			go s.Serve(l)
		case "plain":
			st.PlainAddr = l.Addr().String()
			go s.Serve(l)
		default:
			st.SMTPAddr = l.Addr().String()
			go s.Serve(l)
		}
		t.Cleanup(func() { s.Close() })
	}
	return st
}

func rtListen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// memSession is one SMTP session: AUTH PLAIN against the stack's user
// (not needed on the MX port), any sender, one recipient.
type memSession struct {
	st    *memStack
	conn  *smtp.Conn
	mx    bool
	authd bool
	rcpt  string
}

func (s *memSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *memSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.st.User || password != s.st.Pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Error: authentication failed"}
		}
		s.authd = true
		return nil
	}), nil
}

func (s *memSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authd && !s.mx {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	return nil
}

func (s *memSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to != s.st.Address {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Recipient address rejected: User unknown"}
	}
	s.rcpt = to
	return nil
}

func (s *memSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.st.drop.Load() {
		return nil
	}
	return s.st.deliver(s.conn.Hostname(), s.conn.Conn().RemoteAddr(), s.rcpt, body)
}

// deliver prepends a Received header as Postfix writes it and appends the
// message to INBOX.
func (st *memStack) deliver(helo string, remote net.Addr, rcpt string, body []byte) error {
	ip := "127.0.0.1"
	if ta, ok := remote.(*net.TCPAddr); ok {
		ip = ta.IP.String()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Received: from %s (localhost [%s])\r\n\tby mx.example.test (memstack) with ESMTPSA id %X\r\n\tfor <%s>; %s\r\n",
		helo, ip, time.Now().UnixNano(), rcpt, time.Now().Format(time.RFC1123Z))
	b.Write(body)
	_, err := st.imapUser.Append("INBOX", memLiteral{bytes.NewReader(b.Bytes())}, &imap.AppendOptions{})
	if err == nil {
		st.delivered.Add(1)
	}
	return err
}

// put appends a raw message to INBOX with flags.
func (st *memStack) put(t *testing.T, raw string, flags ...imap.Flag) {
	t.Helper()
	if _, err := st.imapUser.Append("INBOX", memLiteral{bytes.NewReader([]byte(raw))}, &imap.AppendOptions{Flags: flags}); err != nil {
		t.Fatal(err)
	}
}

// messages returns how many messages INBOX holds now.
func (st *memStack) messages(t *testing.T) uint32 {
	t.Helper()
	d, err := st.imapUser.Status("INBOX", &imap.StatusOptions{NumMessages: true})
	if err != nil {
		t.Fatal(err)
	}
	return *d.NumMessages
}

func (s *memSession) Reset()        {}
func (s *memSession) Logout() error { return nil }

type memLiteral struct{ *bytes.Reader }

func (l memLiteral) Size() int64 { return l.Reader.Size() }

// hideIdle rewrites " IDLE" to " XIDL" in what the server writes, so the
// client sees a server without IDLE and must poll.
type hideIdle struct{ net.Listener }

func (h hideIdle) Accept() (net.Conn, error) {
	c, err := h.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hideIdleConn{c}, nil
}

type hideIdleConn struct{ net.Conn }

func (c hideIdleConn) Write(b []byte) (int, error) {
	return c.Conn.Write(bytes.ReplaceAll(b, []byte(" IDLE"), []byte(" XIDL")))
}

// testCert makes a self-signed certificate for 127.0.0.1 and writes it as
// a CA file.
func rtTestCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "labops test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, f
}
