// Package mail proves that mail flows through a self-hosted mail server
// behind a TCP load balancer that sends the PROXY protocol, and that the
// real client address survives the trip.
//
// Three jobs, one file group each:
//
//   - roundtrip*.go, smtp.go, brevo.go, imap.go, received.go: `mail
//     roundtrip` sends a uniquely tagged message (SMTP submission or
//     Brevo's HTTP API), waits for it in IMAP, times the trip, reads the
//     client address the server recorded in the Received header, and
//     deletes the probe; job kind mail-roundtrip.
//   - proxycheck*.go, greeting.go: `mail proxycheck` checks each listener
//     set (the public path through the load balancer, the PROXY-requiring
//     alt port, the plain health port, the stock port) for what it must do:
//     greet N times in a row, greet only after a PROXY v2 header, greet
//     without one. greeting.go reads SMTP's (multi-line, postscreen's
//     pause included) and IMAP's greetings; job kind mail-proxycheck.
//   - lint.go, haproxy.go: `mail lint` reads an HAProxy configuration
//     (sections, named defaults, default-server) and flags the incident's
//     misconfiguration, health checks on a PROXY port, and option smtpchk
//     against postscreen.
//
// Tests run against a real Postfix, Dovecot and HAProxy from
// labtest.StartMailStack.
package mail
