// Package dispatch hands tracker issues to coding agents and reaps the ones
// that get stuck: the dispatch and dispatch-reap job kinds.
//
// Files: tracker.go is the small Tracker interface the passes need;
// beads.go drives the real beads `bd` CLI (with --json) behind it and
// beads_parse.go reads its replies; agent.go is the agent-service client
// (GET /health, POST /execute) and prompt.go renders an issue into the
// prompt; killswitch.go is the switch that suspends both jobs; run.go is
// one dispatch pass, reap.go one reaper pass; spec.go the config section,
// kind.go the job kinds and metrics.go their gauges.
//
// The queue is the set of open, unblocked, unassigned issues carrying the
// queue label (default "agent"). A claim is beads' own compare-and-set
// (`bd update --claim`: open and unassigned, or already the same actor)
// made with an actor that is distinct per dispatcher pass and slot
// ("agent:<pass>-slot-<n>"), and it counts as won only after a read-back
// shows that actor as the assignee of the in-progress issue. beads' claim
// is idempotent for one actor, so a shared actor would let two dispatchers
// both win; distinct actors make exactly one win. Run one dispatcher per
// tracker by design; a second one running at the same moment is harmless,
// it only loses claims (counted as claim conflicts).
//
// With queue "assignee" (election.go) the queue is instead the open,
// unblocked issues assigned to the actor itself (`bd ready --assignee`).
// bd's claim cannot tell two dispatchers apart there (same actor), so a
// claim is an election on the append-only comments: the pass
// comments "claim: <pass-id>", re-reads the comments and wins when its
// claim is the first claim after the latest "release:" / "dispatched:"
// marker in (created_at, comment id) order and the issue is still open
// and assigned to the actor; the winner sets in_progress (keeping the
// assignee), a loser does nothing, and a failed post comments
// "release: <pass-id> — <why>" and sets the issue back to open. The
// idempotency key names the round (the latest marker), so two passes that
// both believed they won one round send the agent the same key.
//
// The audit trail is written as comments (`bd comments add`), never notes:
// concurrent notes were seen to be lost. Comments do not change
// updated_at, so the reaper judges staleness by the agent service's
// report of its running job's last activity when /health gives one, and by
// updated_at otherwise. It re-reads each issue right before blocking it,
// leaving alone any issue that was closed, changed or updated meanwhile.
package dispatch
