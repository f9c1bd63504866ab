// Package secrets keeps rotated credentials in sync with their consumers:
// `labops secrets sync` and the secret-sync job kind.
//
// A sync reads one credential from a source (a mounted file, or Vault's
// HTTP API: KV v2 or a database static role), compares a keyed hash of it
// with the one stored for each sink in the state dir, pushes it only to the
// sinks whose hash differs (Technitium's app config, a Grafana datasource,
// any HTTP endpoint through a template), verifies each sink where it can
// (log in to MySQL with the password the consumer now holds; Grafana's
// datasource health check), and only then stores the new hash. A sink that
// fails keeps its old hash, so the next run pushes again.
//
// The credential itself is a Secret: it prints, logs and marshals as
// "[redacted]", and only Reveal gives the value, at the one place a request
// needs it. Nothing here writes it to a log, a report, an error or the
// state dir.
//
// Files:
//
//	secret.go      Secret and Credential: values that never print
//	spec.go        the job's spec, validation, and building a Syncer
//	file.go        the file source (a mounted Kubernetes Secret)
//	vault.go       the Vault source: token or Kubernetes auth, KV v2, static-creds
//	state.go       the keyed hashes in the state dir
//	sync.go        one sync: fetch, compare, push, verify, store; its report
//	technitium.go  the Technitium app-config sink
//	connstr.go     ADO.NET connection strings (Technitium's MySQL apps)
//	mysql.go       logging in to MySQL/MariaDB to prove a password works
//	grafana.go     the Grafana datasource sink
//	httpsink.go    the generic HTTP sink
//	kind.go        the secret-sync job kind and its metrics
package secrets
