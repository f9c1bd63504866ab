// Package store keeps serve's run history in SQLite (pure Go driver, no
// cgo): one row per run, with its result, findings and the tail of its log.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/labops/labops/internal/job"
)

// StatusRunning marks a run that has started and not finished.
const StatusRunning job.Status = "running"

// Run is one row of history.
type Run struct {
	ID       int64
	Job      string
	Trigger  string // "schedule" or "manual"
	Started  time.Time
	Duration time.Duration
	Status   job.Status
	Error    string
	Findings []job.Finding
	Counters map[string]float64
	Log      string
}

// Store is the run history.
type Store struct {
	db *sql.DB
}

// ErrNotFound is returned for a run that does not exist.
var ErrNotFound = errors.New("run not found")

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	job         TEXT    NOT NULL,
	trigger     TEXT    NOT NULL,
	started_ns  INTEGER NOT NULL,
	duration_ns INTEGER NOT NULL DEFAULT 0,
	status      TEXT    NOT NULL,
	error       TEXT    NOT NULL DEFAULT '',
	findings    TEXT    NOT NULL DEFAULT '[]',
	counters    TEXT    NOT NULL DEFAULT '{}',
	log         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_job_id ON runs(job, id);
`

// Open opens (creating if needed) the history database at path. Runs left
// "running" by a process that died are marked incomplete.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("opening history %s: %w", path, err)
	}
	// One writer at a time is all SQLite does anyway; one connection keeps
	// it free of "database is locked".
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating history schema in %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE runs SET status = ?, error = ? WHERE status = ?`,
		job.StatusIncomplete, "interrupted: labops stopped during the run", StatusRunning); err != nil {
		db.Close()
		return nil, fmt.Errorf("closing interrupted runs in %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Start records a run that has begun and returns its id.
func (s *Store) Start(ctx context.Context, jobName, trigger string, started time.Time) (int64, error) {
	r, err := s.db.ExecContext(ctx, `INSERT INTO runs (job, trigger, started_ns, status) VALUES (?, ?, ?, ?)`,
		jobName, trigger, started.UnixNano(), StatusRunning)
	if err != nil {
		return 0, fmt.Errorf("recording start of %s: %w", jobName, err)
	}
	return r.LastInsertId()
}

// Finish records the result of run id.
func (s *Store) Finish(ctx context.Context, id int64, res job.Result, log string) error {
	findings, err := json.Marshal(nonNil(res.Findings))
	if err != nil {
		return err
	}
	counters, err := json.Marshal(res.Counters)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE runs SET duration_ns = ?, status = ?, error = ?, findings = ?, counters = ?, log = ? WHERE id = ?`,
		int64(res.Duration), res.Status, res.Error, string(findings), string(counters), log, id)
	if err != nil {
		return fmt.Errorf("recording result of run %d: %w", id, err)
	}
	return nil
}

func nonNil(f []job.Finding) []job.Finding {
	if f == nil {
		return []job.Finding{}
	}
	return f
}

const columns = `id, job, trigger, started_ns, duration_ns, status, error, findings, counters, log`

// Recent returns up to limit runs of jobName, newest first.
func (s *Store) Recent(ctx context.Context, jobName string, limit int) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM runs WHERE job = ? ORDER BY id DESC LIMIT ?`, jobName, limit)
	if err != nil {
		return nil, fmt.Errorf("reading history of %s: %w", jobName, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Get returns run id.
func (s *Store) Get(ctx context.Context, id int64) (Run, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM runs WHERE id = ?`, id)
	r, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, ErrNotFound
	}
	return r, err
}

// Prune keeps the newest keep runs of each job and deletes the rest.
func (s *Store) Prune(ctx context.Context, keep int) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM runs WHERE id IN (
		SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY job ORDER BY id DESC) AS n FROM runs) WHERE n > ?)`, keep)
	if err != nil {
		return fmt.Errorf("pruning history: %w", err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scan(sc scanner) (Run, error) {
	var (
		r                  Run
		startNS, durNS     int64
		findings, counters string
	)
	if err := sc.Scan(&r.ID, &r.Job, &r.Trigger, &startNS, &durNS, &r.Status, &r.Error, &findings, &counters, &r.Log); err != nil {
		return Run{}, err
	}
	r.Started = time.Unix(0, startNS)
	r.Duration = time.Duration(durNS)
	if err := json.Unmarshal([]byte(findings), &r.Findings); err != nil {
		return Run{}, fmt.Errorf("run %d findings: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(counters), &r.Counters); err != nil {
		return Run{}, fmt.Errorf("run %d counters: %w", r.ID, err)
	}
	return r, nil
}
