// Package kinds is the one place where job kinds are registered: each
// domain package exports its kinds and this list names them explicitly.
package kinds

import (
	"github.com/labops/labops/internal/backup"
	"github.com/labops/labops/internal/dispatch"
	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/mail"
	"github.com/labops/labops/internal/oci"
	"github.com/labops/labops/internal/secrets"
)

// All returns every job kind by name.
func All() map[string]job.Kind {
	m := map[string]job.Kind{}
	for _, k := range []job.Kind{
		oci.ProbeKind(),
		oci.RetentionKind(),
		oci.MirrorKind(),
		oci.ArchiveKind(),
		mail.ProxycheckKind(),
		mail.RoundtripKind(),
		dnssync.SyncKind(),
		dnssync.ReadyKind(),
		dnssync.TSIGCheckKind(),
		dnssync.FallbackKind(),
		backup.Kind(),
		backup.VerifyKind(),
		dispatch.Kind(),
		dispatch.ReapKind(),
		secrets.Kind(),
	} {
		m[k.Name] = k
	}
	return m
}
