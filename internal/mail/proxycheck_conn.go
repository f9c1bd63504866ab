package mail

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
)

// greetAttempt is one connection's outcome.
type greetAttempt struct {
	connected bool
	local     netip.Addr // the address this side connected from
	greeting  Greeting
	elapsed   time.Duration // connect to complete greeting (or failure)
	err       error
}

func (a greetAttempt) ok() bool { return a.err == nil && a.greeting.OK() }

// greetOnce connects to addr, sends a PROXY v2 header claiming to come from
// claimed when claimed is valid, and reads the protocol's greeting within
// timeout. It then says goodbye (QUIT or LOGOUT) and closes with FIN.
func greetOnce(ctx context.Context, addr, protocol string, claimed netip.Addr, timeout time.Duration) greetAttempt {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var a greetAttempt
	d := net.Dialer{}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		a.err, a.elapsed = err, time.Since(start)
		return a
	}
	defer c.Close()
	a.connected = true
	if ap, err := netip.ParseAddrPort(c.LocalAddr().String()); err == nil {
		a.local = ap.Addr().Unmap()
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if claimed.IsValid() {
		if _, err := proxyHeader(claimed, c.RemoteAddr()).WriteTo(c); err != nil {
			a.err, a.elapsed = fmt.Errorf("sending the PROXY header: %w", err), time.Since(start)
			return a
		}
	}
	r := bufio.NewReaderSize(c, maxGreetingLine)
	a.greeting, a.err = ReadGreeting(r, protocol)
	a.elapsed = time.Since(start)
	if a.err == nil {
		goodbye(c, r, protocol)
	}
	return a
}

// goodbye ends the session politely, so the server logs a clean
// disconnect, and waits briefly for its answer.
func goodbye(c net.Conn, r *bufio.Reader, protocol string) {
	cmd := "QUIT\r\n"
	if protocol == "imap" {
		cmd = "a LOGOUT\r\n"
	}
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := io.WriteString(c, cmd); err == nil {
		_, _ = r.ReadString('\n')
	}
}

// silentWithoutProxy connects to addr without a PROXY header and reports
// whether the server said anything within wait (it must not: it is waiting
// for the header). Any greeting line, even postscreen's first "220-", means
// the listener does not require PROXY.
func silentWithoutProxy(ctx context.Context, addr, protocol string, wait time.Duration) greetAttempt {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	var a greetAttempt
	d := net.Dialer{}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		a.err, a.elapsed = err, time.Since(start)
		return a
	}
	defer c.Close()
	a.connected = true
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	a.greeting, a.err = ReadGreeting(bufio.NewReaderSize(c, maxGreetingLine), protocol)
	a.elapsed = time.Since(start)
	return a
}

// proxyHeader is a PROXY v2 header for a TCP connection from claimed (a
// random high port) to dst.
func proxyHeader(claimed netip.Addr, dst net.Addr) *proxyproto.Header {
	src := &net.TCPAddr{IP: claimed.AsSlice(), Port: 1024 + rand.IntN(64511)}
	tp := proxyproto.TCPv4
	if claimed.Is6() {
		tp = proxyproto.TCPv6
	}
	d, _ := dst.(*net.TCPAddr)
	if d == nil || (d.IP.To4() != nil) != claimed.Is4() {
		// The families must match; claim an unspecified destination.
		d = &net.TCPAddr{IP: net.IPv4zero}
		if claimed.Is6() {
			d.IP = net.IPv6zero
		}
	}
	return &proxyproto.Header{
		Version:           2,
		Command:           proxyproto.PROXY,
		TransportProtocol: tp,
		SourceAddr:        src,
		DestinationAddr:   d,
	}
}

// failureReason names why an attempt failed, from a small fixed set.
func failureReason(a greetAttempt) string {
	var ne net.Error
	switch {
	case a.err == nil && !a.greeting.OK():
		return "refused in the greeting"
	case a.err == nil:
		return ""
	case errors.Is(a.err, ErrNotGreeting):
		return "not a greeting"
	case errors.Is(a.err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(a.err, os.ErrDeadlineExceeded) || errors.Is(a.err, context.DeadlineExceeded) ||
		(errors.As(a.err, &ne) && ne.Timeout()):
		if !a.connected {
			return "connect timed out"
		}
		if len(a.greeting.Lines) > 0 {
			return "greeting incomplete at the deadline"
		}
		return "no greeting before the deadline"
	case errors.Is(a.err, io.ErrUnexpectedEOF) || errors.Is(a.err, syscall.ECONNRESET):
		return "closed without a complete greeting"
	case errors.Is(a.err, context.Canceled):
		return "canceled"
	}
	if !a.connected {
		return "connect failed"
	}
	return "read failed"
}

// describe is one attempt's outcome for a message.
func describe(a greetAttempt) string {
	switch {
	case a.ok():
		return fmt.Sprintf("greeted %q in %s", clip(a.greeting.Last()), a.elapsed.Round(time.Millisecond))
	case a.err == nil:
		return fmt.Sprintf("refused in the greeting: %q", clip(a.greeting.Last()))
	}
	return fmt.Sprintf("%s after %s (%v)", failureReason(a), a.elapsed.Round(time.Millisecond), a.err)
}
