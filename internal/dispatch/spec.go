package dispatch

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labops/labops/internal/config"
)

// Spec is the config section of both dispatch kinds (dispatch and
// dispatch-reap): the tracker, the agent service and the kill switch.
type Spec struct {
	// Bd is the bd binary (default "bd", found on PATH).
	Bd string `yaml:"bd" json:"bd,omitempty"`
	// Workspace is the directory holding the .beads workspace.
	Workspace string `yaml:"workspace" json:"workspace"`
	// Queue is how issues are queued for the agent: "label" (default:
	// open, unassigned issues carrying Label, claimed by bd's own claim) or
	// "assignee" (open issues assigned to Actor, claimed by an election on
	// the comments; see election.go).
	Queue string `yaml:"queue" json:"queue,omitempty"`
	// Label marks the queue (default "agent").
	Label string `yaml:"label" json:"label,omitempty"`
	// Actor prefixes every claim's actor and signs the comments (default "agent").
	Actor string `yaml:"actor" json:"actor,omitempty"`
	// Agent is the agent service: required by dispatch; optional for
	// dispatch-reap, which then asks it for its running jobs' last activity.
	Agent AgentSpec `yaml:"agent" json:"agent"`
	// Prompt is a text/template over the issue (.ID, .Title, .Description,
	// .AcceptanceCriteria); empty means DefaultPrompt.
	Prompt string `yaml:"prompt" json:"prompt,omitempty"`
	// Suspended is the kill switch in the config.
	Suspended bool `yaml:"suspended" json:"suspended,omitempty"`
	// KillFile suspends both jobs while it exists.
	KillFile string `yaml:"kill_file" json:"kill_file,omitempty"`
	// StaleAfter is the reaper's threshold (default "30m").
	StaleAfter string `yaml:"stale_after" json:"stale_after,omitempty"`
}

// AgentSpec is the agent service.
type AgentSpec struct {
	URL       string `yaml:"url" json:"url"`
	TokenFile string `yaml:"token_file" json:"token_file,omitempty"`
	// Timeout bounds each call (default "30s").
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
}

func (s *Spec) defaults() {
	if s.Bd == "" {
		s.Bd = "bd"
	}
	if s.Queue == "" {
		s.Queue = QueueLabel
	}
	if s.Label == "" {
		s.Label = "agent"
	}
	if s.Actor == "" {
		s.Actor = "agent"
	}
	if s.StaleAfter == "" {
		s.StaleAfter = "30m"
	}
	if s.Agent.Timeout == "" {
		s.Agent.Timeout = "30s"
	}
}

// Validate returns every problem, with paths relative to the spec. needAgent
// is false for the reaper, which never calls the agent service.
func (s Spec) Validate(needAgent bool) error {
	s.defaults()
	var ps config.Problems
	if s.Queue != QueueLabel && s.Queue != QueueAssignee {
		ps.Add("queue", "%q is not a queue: want %q or %q", s.Queue, QueueLabel, QueueAssignee)
	}
	if s.Workspace == "" {
		ps.Add("workspace", "required: the directory holding the .beads workspace")
	}
	if d, err := time.ParseDuration(s.StaleAfter); err != nil || d <= 0 {
		ps.Add("stale_after", "%q is not a positive duration (e.g. 30m)", s.StaleAfter)
	}
	if needAgent || s.Agent.URL != "" {
		if u, err := url.Parse(s.Agent.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Add("agent.url", "required: the agent service's http(s) URL")
		}
		if d, err := time.ParseDuration(s.Agent.Timeout); err != nil || d <= 0 {
			ps.Add("agent.timeout", "%q is not a positive duration (e.g. 30s)", s.Agent.Timeout)
		}
	}
	if needAgent {
		if _, err := ParsePrompt(s.Prompt); err != nil {
			ps.Add("prompt", "%v", err)
		}
	}
	return ps.Err()
}

// Tracker is the beads tracker the spec names.
func (s Spec) Tracker() *Beads {
	s.defaults()
	return &Beads{Bin: s.Bd, Dir: s.Workspace, Label: s.Label, Actor: s.Actor, Queue: s.Queue}
}

// KillSwitch is the spec's kill switch.
func (s Spec) KillSwitch() KillSwitch { return KillSwitch{On: s.Suspended, File: s.KillFile} }

// Dispatcher builds a dispatcher from a valid spec.
func (s Spec) Dispatcher() (*Dispatcher, error) {
	if err := s.Validate(true); err != nil {
		return nil, err
	}
	s.defaults()
	p, err := ParsePrompt(s.Prompt)
	if err != nil {
		return nil, err
	}
	return &Dispatcher{
		Tracker:     s.Tracker(),
		Agent:       s.agent(),
		Prompt:      p,
		Kill:        s.KillSwitch(),
		ActorPrefix: s.Actor,
		Queue:       s.Queue,
	}, nil
}

// Reaper builds a reaper from a valid spec.
func (s Spec) Reaper() (*Reaper, error) {
	if err := s.Validate(false); err != nil {
		return nil, err
	}
	s.defaults()
	stale, _ := time.ParseDuration(s.StaleAfter)
	r := &Reaper{Tracker: s.Tracker(), Kill: s.KillSwitch(), StaleAfter: stale, ActorPrefix: s.Actor, Queue: s.Queue}
	if s.Agent.URL != "" {
		r.Agent = s.agent()
	}
	return r, nil
}

// agent is the spec's agent-service client (defaults applied).
func (s Spec) agent() *Agent {
	timeout, _ := time.ParseDuration(s.Agent.Timeout)
	return &Agent{URL: trimSlash(s.Agent.URL), TokenFile: s.Agent.TokenFile, Client: &http.Client{Timeout: timeout}}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
