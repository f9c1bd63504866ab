// Package oci proves that the images in an OCI registry can actually be
// pulled. It holds a small registry client on net/http (auth, retries,
// bounded concurrency, request counting), manifest parsing for the OCI and
// Docker v2 media types, the walker behind `labops oci check` and
// `labops oci verify`, its report, the oci-probe job kind, and a pusher used
// to seed registries in tests and in the embedded lab.
//
// Files, one concern each:
//
//	ref.go       registry addresses and image references
//	errors.go    sentinel errors and the one HTTP status mapping
//	client.go    HTTP client: timeouts, retries, semaphore, rate limit
//	ratelimit.go the token-bucket limiter behind --rate
//	auth.go      anonymous, basic and bearer-token auth, Docker config
//	challenge.go WWW-Authenticate and Link header parsing
//	manifest.go  manifest and index parsing
//	list.go      catalog and tag listing with Link pagination
//	fetch.go     manifest GETs, one-byte blob checks, full blob verification
//	check.go     the walker: repositories and tags, bounded and concurrent
//	walk.go      one repository: index → children → config and layers, each
//	             distinct digest checked once
//	report.go    the report, its text and JSON forms, and job.Result
//	probe.go     the oci-probe job kind and its metrics
//	dataproof.go each distinct blob's data read once per registry
//	push.go      pushing blobs, manifests and indexes (seeding)
//
// Offline, on registry:2's filesystem storage (`labops oci scan`,
// `labops oci gc-preflight`):
//
//	scan.go               Scan: options, phases, reading manifest blobs
//	scan_fs.go            read-only access through os.Root; symlinks refused
//	scan_openat2_linux.go one openat2(RESOLVE_BENEATH|NO_SYMLINKS) per file
//	scan_blobs.go         the blob walk: sizes, and linked manifests read
//	scan_tree.go          nested repositories, their links and uploads
//	scan_parse.go         link files, startedat, stored manifests (untrusted)
//	scan_graph.go         tags resolved in memory: broken images, what each
//	                      tag reaches, dangling links, unreachable blobs
//	scan_report.go        the scan report, text, JSON and job.Result
//	gcoutput.go           garbage-collect --dry-run output, parsed strictly
//	gcpreflight.go        the registry config's root; the collector run,
//	                      judged against what tags reach
//	gcpreflight_report.go its verdict, text, JSON and job.Result
//
// A HEAD is not proof that a blob exists: registry:2's in-memory blob
// descriptor cache answers HEAD 200 for a blob deleted while it runs. Blob
// data is therefore confirmed with a one-byte ranged GET that must return a
// byte, once per registry (dataproof.go says why once is enough); every
// other repository linking the blob gets a HEAD for its link.
package oci
