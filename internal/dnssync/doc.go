// Package dnssync keeps the zones of several DNS servers equal and proves
// it. Each server is reached through a Provider (plain DNS: AXFR to read,
// RFC 2136 updates signed with TSIG to write; the PowerDNS Authoritative
// HTTP API; the Technitium HTTP API), and every provider passes one
// conformance suite.
//
// On top of the providers: PlanSync, a pure function from the source's and
// a target's zones to the changes that make the target equal (with a
// change brake and records other writers own left alone), Sync which
// gathers, plans and applies, and Ready, the readiness gate that compares
// every server's zones, serials and record fingerprints. The dns-sync and
// dns-ready job kinds run them on a schedule.
package dnssync
