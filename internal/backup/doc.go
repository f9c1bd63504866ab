// Package backup dumps every database of configured PostgreSQL and
// MySQL/MariaDB servers, one file per database, keeps them by a
// grandfather-father-son retention scheme, and proves the newest dump of
// each database restores.
//
// The tree:
//
//	spec.go       the backup and backup-verify jobs' config section
//	driver.go     the Driver interface each server type implements
//	postgres.go   PostgreSQL: pg_dump -Fc in an exported snapshot, pg_restore
//	pgprops.go    PostgreSQL: a database's own settings and comment, restored under any name
//	mysql.go      MySQL and MariaDB: the server's own dump tool, detected
//	layout.go     <root>/<server>/<database>/<timestamp>.<ext>, escaping, the checksum read-back
//	manifest.go   the manifest and sha256 sidecar written beside each dump
//	retention.go  the pure retention plan (last N, daily, weekly, monthly)
//	run.go        backup run: dump, checksum, then prune
//	verify.go     backup verify and restore: into a scratch database, compared with the manifest
//	kind.go       the backup and backup-verify job kinds and their metrics
//
// The vendors' dump tools do the dumping: a dumper written here would be
// one more way to lose data. Passwords reach them through a 0600 file
// (PGPASSFILE, --defaults-extra-file), never argv.
package backup
