package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// Errors a sender or mailbox returns, for errors.Is. They decide the
// probe's status: a refused login or message is a finding (failed), an
// unavailable server means the probe could not see (incomplete).
var (
	// ErrAuthFailed: the server refused the credentials (SMTP 535, IMAP
	// NO to LOGIN, HTTP 401).
	ErrAuthFailed = errors.New("login refused")
	// ErrRejected: the server refused the message or the request for good
	// (SMTP 5xx, HTTP 400/402/403).
	ErrRejected = errors.New("rejected")
	// ErrUnavailable: the server could not be reached, or answered with a
	// temporary failure (SMTP 4xx, HTTP 429 or 5xx, connection reset).
	ErrUnavailable = errors.New("unavailable")
	// ErrCertificate: the server's TLS certificate was not trusted
	// (expired, wrong name, unknown CA): every client of it fails too.
	ErrCertificate = errors.New("certificate not trusted")
	// ErrNoTLS: the server does not offer STARTTLS.
	ErrNoTLS = errors.New("STARTTLS not offered")
)

// TLSMode is how a connection is secured.
type TLSMode string

const (
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (465, 993)
	TLSStartTLS TLSMode = "starttls" // plain, then STARTTLS (587, 143)
	TLSNone     TLSMode = "none"     // plain text; tests and loopback only
)

// ParseTLSMode accepts implicit, starttls or none ("" is def).
func ParseTLSMode(s string, def TLSMode) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(s)); m {
	case "":
		return def, nil
	case TLSImplicit, TLSStartTLS, TLSNone:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a TLS mode (valid: starttls, implicit, none)", s)
}

// TLSOptions say which certificates a connection trusts.
type TLSOptions struct {
	// CAFile is a PEM file of extra CAs to trust (for test and private CAs).
	CAFile string
	// InsecureSkipVerify accepts any certificate. For throwaway test
	// servers only.
	InsecureSkipVerify bool
	// ServerName overrides the name the certificate must carry (default:
	// the host of the address).
	ServerName string
}

// config builds the tls.Config for a connection to addr.
func (o TLSOptions) config(addr string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // opt-in for test certificates
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", addr, err)
		}
		cfg.ServerName = host
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// dial connects to addr within ctx, from sourceIP when one is given, and,
// for implicit TLS, completes the handshake. The returned conn carries
// ctx's deadline, so a protocol library without a context (go-smtp)
// cannot outlive it.
func dialMail(ctx context.Context, addr, sourceIP string, mode TLSMode, tlsCfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	if sourceIP != "" {
		ip := net.ParseIP(sourceIP)
		if ip == nil {
			return nil, fmt.Errorf("source address %q is not an IP address", sourceIP)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, unavailableErr(ctx, fmt.Errorf("connecting to %s: %w", addr, err))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if mode != TLSImplicit {
		return conn, nil
	}
	tc := tls.Client(conn, tlsCfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, unavailableErr(ctx, fmt.Errorf("TLS handshake with %s: %w", addr, err))
	}
	return tc, nil
}

// unavailable marks err as ErrUnavailable and, when ctx has ended, says
// so in the message (a closed connection then means "out of time").
func unavailableErr(ctx context.Context, err error) error {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrCertificate) {
		return err
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) || strings.Contains(err.Error(), "x509: ") || strings.Contains(err.Error(), "tls: failed to verify certificate") {
		return fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w (%w)", ErrUnavailable, err, context.Cause(ctx))
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
