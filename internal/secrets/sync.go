package secrets

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
)

// source gives the current credential.
type source interface {
	Fetch(ctx context.Context) (Credential, error)
	Describe() string
}

// sink is one consumer of the credential.
type sink interface {
	Type() string
	// Target says where the sink delivers (its URL and what inside), so
	// that pointing a sink elsewhere changes its hash and pushes again.
	// It may hold a token in a URL: it only goes into the keyed hash.
	Target() string
	// Push gives the consumer c; false when it already held it (only
	// sinks that can read back know that).
	Push(ctx context.Context, c Credential) (bool, error)
	// Verify proves the consumer works with c, or returns errNotVerifiable.
	Verify(ctx context.Context, c Credential) error
}

// errNotVerifiable is a sink's way of saying it cannot check.
var errNotVerifiable = errors.New("this sink cannot be verified")

// namedSink is a sink with its configured name.
type namedSink struct {
	name string
	sink
}

// Syncer runs one sync of one credential.
type Syncer struct {
	Job    string
	Source source
	Sinks  []namedSink
	// StateDir holds the keyed hashes.
	StateDir string
	// Force pushes to every sink, whatever the hashes say.
	Force bool
	// DryRun reads the source and the hashes and reports which sinks
	// would get the value; nothing is pushed, verified or stored.
	DryRun bool
	// AfterRotation is added to the source's ttl for NextRunBy.
	AfterRotation time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// Sink actions in a report.
const (
	ActionPushed    = "pushed"    // the consumer got the new value
	ActionCurrent   = "current"   // the consumer already held it (read back)
	ActionUnchanged = "unchanged" // the keyed hash matched; nothing sent
	ActionFailed    = "failed"
	ActionWouldPush = "would-push" // dry run: the hash differs (or --force)
)

// Verification outcomes in a report.
const (
	VerifyOK      = "ok"
	VerifyFailed  = "failed"
	VerifyNotDone = "not-verifiable"
)

// SinkReport is what happened to one sink.
type SinkReport struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Action   string `json:"action"`
	Verified string `json:"verified,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Report is one sync. It holds no secret.
type Report struct {
	Job      string `json:"job"`
	Source   string `json:"source"`
	Username string `json:"username,omitempty"`
	// TTL is the source's time to the next rotation (0: it does not say).
	TTL          Duration     `json:"ttl,omitempty"`
	RotatesAt    time.Time    `json:"rotates_at,omitzero"`
	LastRotation time.Time    `json:"last_rotation,omitzero"`
	Sinks        []SinkReport `json:"sinks"`
	Pushed       int          `json:"pushed"`
	Failed       int          `json:"failed"`
	// Error says why the sync could not run (the source or the state dir).
	Error string `json:"error,omitempty"`
	// NextRunBy is when the job should run again: after the next rotation.
	NextRunBy time.Time `json:"next_run_by,omitzero"`
	At        time.Time `json:"at"`
	// DryRun: nothing was pushed, verified or stored.
	DryRun bool `json:"dry_run,omitempty"`
}

// Duration marshals as a Go duration string.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Run fetches the credential and brings every sink up to date.
func (s *Syncer) Run(ctx context.Context) *Report {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{Job: s.Job, Source: s.Source.Describe(), At: now(), DryRun: s.DryRun}
	dir := s.StateDir
	if s.DryRun && !stateExists(dir) {
		// A dry run creates nothing: no state yet means every sink would
		// get the value. The source is still read, to prove it works.
		dir = ""
	}
	state, err := openState(dir)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	stored, err := state.Load(s.Job)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	cred, err := s.Source.Fetch(ctx)
	if err != nil {
		rep.Error = "reading the source: " + err.Error()
		return rep
	}
	rep.Username = cred.Username
	rep.LastRotation = cred.LastRotation
	if cred.TTL > 0 {
		rep.TTL = Duration(cred.TTL)
		rep.RotatesAt = rep.At.Add(cred.TTL)
		rep.NextRunBy = rep.RotatesAt.Add(s.AfterRotation)
	}
	log.Info("credential read", "source", rep.Source, "username", cred.Username, "ttl", cred.TTL)

	// Only configured sinks keep a hash: a sink removed and added back
	// later must be pushed again, not trusted from an old hash.
	next := make(map[string]string, len(s.Sinks))
	for _, k := range s.Sinks {
		if h, ok := stored[k.name]; ok {
			next[k.name] = h
		}
	}
	for _, k := range s.Sinks {
		hash := state.Hash(s.Job, k.name+"\x00"+k.Target(), cred)
		if s.DryRun {
			sr := SinkReport{Name: k.name, Type: k.Type(), Action: ActionUnchanged}
			if s.Force || next[k.name] != hash {
				sr.Action = ActionWouldPush
			}
			rep.Sinks = append(rep.Sinks, sr)
			continue
		}
		sr := s.syncSink(ctx, log, k, cred, hash, next)
		sr.Error = scrub(sr.Error, cred)
		switch sr.Action {
		case ActionPushed:
			rep.Pushed++
		case ActionFailed:
			rep.Failed++
		}
		rep.Sinks = append(rep.Sinks, sr)
	}
	if s.DryRun {
		return rep
	}
	if err := state.Save(s.Job, next); err != nil {
		rep.Error = err.Error() + " (the next run pushes again)"
	}
	return rep
}

// openState opens the state dir; "" (a dry run before any sync) is an
// empty state with a throwaway key, which no stored hash can match.
func openState(dir string) (*State, error) {
	if dir == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		return &State{key: key, empty: true}, nil
	}
	return OpenState(dir)
}

// syncSink brings one sink up to date; next[name] gets the new hash only
// when the sink holds the value and, where it can tell, works with it.
func (s *Syncer) syncSink(ctx context.Context, log *slog.Logger, k namedSink, cred Credential, hash string, next map[string]string) SinkReport {
	sr := SinkReport{Name: k.name, Type: k.Type()}
	if !s.Force && next[k.name] == hash {
		// Unchanged: nothing to send, but prove the consumer still works;
		// if it does not (someone reset it), push again now.
		err := k.Verify(ctx, cred)
		switch {
		case errors.Is(err, errNotVerifiable):
			sr.Action, sr.Verified = ActionUnchanged, VerifyNotDone
			return sr
		case err == nil:
			sr.Action, sr.Verified = ActionUnchanged, VerifyOK
			return sr
		}
		log.Warn("sink unchanged but failed verification; pushing again", "sink", k.name, "err", scrub(err.Error(), cred))
		delete(next, k.name)
	}
	pushed, err := k.Push(ctx, cred)
	if err != nil {
		sr.Action, sr.Error = ActionFailed, "push: "+err.Error()
		log.Error("sink push failed", "sink", k.name, "err", scrub(err.Error(), cred))
		return sr
	}
	sr.Action = ActionCurrent
	if pushed {
		sr.Action = ActionPushed
	}
	err = k.Verify(ctx, cred)
	switch {
	case errors.Is(err, errNotVerifiable):
		sr.Verified = VerifyNotDone
	case err != nil:
		sr.Action, sr.Verified, sr.Error = ActionFailed, VerifyFailed, "verify: "+err.Error()
		log.Error("sink verification failed", "sink", k.name, "err", scrub(err.Error(), cred))
		return sr
	default:
		sr.Verified = VerifyOK
	}
	next[k.name] = hash
	log.Info("sink in sync", "sink", k.name, "action", sr.Action, "verified", sr.Verified)
	return sr
}

// scrub removes the credential's password from a message built from a
// server's reply, in case a server echoes what it was sent.
func scrub(msg string, c Credential) string {
	if pw := c.Password.Reveal(); pw != "" && msg != "" {
		msg = strings.ReplaceAll(msg, pw, redacted)
	}
	return msg
}

// Result is the job's view of the report.
func (r *Report) Result() job.Result {
	res := job.Result{Status: job.StatusOK, NextRunBy: r.NextRunBy, Counters: map[string]float64{
		"sinks": float64(len(r.Sinks)), "pushed": float64(r.Pushed), "failed": float64(r.Failed),
	}}
	for _, s := range r.Sinks {
		if s.Action == ActionFailed {
			res.Status = job.StatusFailed
			kind := "sink-push-failed"
			if s.Verified == VerifyFailed {
				kind = "sink-verify-failed"
			}
			res.Findings = append(res.Findings, job.Finding{Kind: kind, Subject: s.Name, Message: s.Error})
		}
	}
	if r.Error != "" {
		res.Status = job.Worst(res.Status, job.StatusIncomplete)
		res.Error = r.Error
	}
	return res
}

// Text is the human report.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source: %s", r.Source)
	if r.Username != "" {
		fmt.Fprintf(&b, " (user %s)", r.Username)
	}
	b.WriteString("\n")
	if !r.RotatesAt.IsZero() {
		fmt.Fprintf(&b, "rotates: %s (in %s); run again by %s\n", r.RotatesAt.Format(time.RFC3339),
			time.Duration(r.TTL).Round(time.Second), r.NextRunBy.Format(time.RFC3339))
	}
	for _, s := range r.Sinks {
		fmt.Fprintf(&b, "%-10s %s (%s)", s.Action, s.Name, s.Type)
		if s.Verified != "" {
			fmt.Fprintf(&b, ", verified: %s", s.Verified)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, ": %s", s.Error)
		}
		b.WriteString("\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "incomplete: %s\n", r.Error)
	}
	if r.DryRun {
		would := 0
		for _, s := range r.Sinks {
			if s.Action == ActionWouldPush {
				would++
			}
		}
		fmt.Fprintf(&b, "dry run: %d of %d sink(s) would get the value; nothing pushed\n", would, len(r.Sinks))
		return b.String()
	}
	fmt.Fprintf(&b, "%d sink(s): %d pushed, %d failed\n", len(r.Sinks), r.Pushed, r.Failed)
	return b.String()
}
