// Package oci proves that the images in an OCI registry can actually be
// pulled, and changes registries only in ways that keep them so. It holds a
// small registry client on net/http (auth, retries, bounded concurrency,
// request counting), manifest parsing for the OCI and Docker v2 media types,
// the walker behind `labops oci check` and `labops oci verify`, the offline
// storage scan, retention, mirroring and archives, their job kinds, and a
// pusher used to seed registries in tests and in the embedded lab.
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
// Retention (`labops oci retain`, kind oci-retention):
//
//	retain_backend.go   the RetentionBackend interface and TagRef
//	registry_backend.go the distribution API backend (delete by digest)
//	gitea.go            the Forgejo/Gitea packages API backend (delete by tag)
//	delete.go           manifest digest, manifest delete, small blob reads
//	retain_policy.go    keep-N, keep patterns, keep-younger-than per repo rule
//	retain_created.go   image creation time from the config blob (untrusted)
//	retain_gather.go    what each repository's tags reach, read once
//	retain_plan.go      the plan: a pure function, with the safety brake
//	retain_apply.go     deletes, then the deep re-check of every kept tag
//	retain_report.go    the plan and outcome, text and JSON
//	retain_kind.go      the oci-retention job kind
//
// Copies (`labops oci mirror`, `compare`, `archive`, `restore`):
//
//	image_graph.go   every manifest and blob one reference reaches
//	blobstream.go    streamed, verified blob reads; mounts and streamed uploads
//	mirror.go        the mirror plan: what is missing at the destination
//	mirror_copy.go   copying children first, tag last; resumable
//	mirror_report.go the mirror report; mirror_kind.go the oci-mirror kind
//	compare.go       how two references differ
//	layout.go        writing an OCI image layout tarball, streamed
//	layout_read.go   reading one back, every blob verified (untrusted)
//	archive*.go      archive naming, sidecar, latest link, pruning, the kind
//	restore.go       pushing an archive back, then the deep check
//
// A HEAD is not proof that a blob exists: registry:2's in-memory blob
// descriptor cache answers HEAD 200 for a blob deleted while it runs. Blob
// data is therefore confirmed with a one-byte ranged GET that must return a
// byte, once per registry (dataproof.go says why once is enough); every
// other repository linking the blob gets a HEAD for its link.
package oci
