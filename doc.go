// Package labops is the root of the labops module: the operations layer of
// a self-hosted cluster, in one Go binary.
//
// The tree:
//
//	cmd/labops           main: signals, cli.Execute, exit code
//	internal/cli         cobra commands (one file each) and the exit-code switch
//	internal/config      the YAML file: strict decoding, ${ENV}, every problem with its path
//	internal/job         the Job contract, Result, the Runner and its metrics
//	internal/kinds       the one place job kinds are registered
//	internal/schedule    serve's cron loop: no overlap, jitter, graceful shutdown
//	internal/store       run history in SQLite (pure Go)
//	internal/web         the status page, /metrics, /healthz
//	internal/push        Pushgateway and Uptime Kuma pushes for one-shot runs
//	internal/atomicfile  small files replaced whole or not at all (manifests, sidecars, state)
//	internal/lab         the embedded lab serve starts without a config
//	internal/labtest     starts real servers (registry:2, Gitea, mail, DNS, ...) for tests;
//	                     labtest/browser starts headless Chromium
//	internal/oci         registries: check, scan, gc-preflight, retain, mirror, archive
//	internal/mail        mail: roundtrip probe, PROXY-path check, HAProxy lint
//	internal/dnssync     DNS: providers, sync, readiness gate, TSIG check, resolver fallback
//	internal/backup      per-database dumps, GFS retention, restore verification
//	internal/dispatch    tracker issues to a coding agent, and the reaper
//	internal/secrets     rotated credentials pushed into their consumers, then verified
//	deploy/prometheus    alert rules with promtool tests, each alert's runbook checked
//	deploy/kubernetes    CronJobs per job or one serve Deployment, validated against the API types
//	docs/                architecture (Mermaid), the metrics reference generated from the code
//	                     (go test ./docs -update), a runbook per alert
//	bench/               labops against the tools a user would otherwise script
//	scripts/             test-deps (installs test servers) and test (the suite)
package labops
