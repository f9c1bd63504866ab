package dispatch_test

import (
	"strings"
	"testing"

	"github.com/labops/labops/internal/dispatch"
)

func TestSpecQueue(t *testing.T) {
	t.Parallel()
	base := dispatch.Spec{Workspace: "/w", Agent: dispatch.AgentSpec{URL: "http://agent"}}
	for _, q := range []string{"", dispatch.QueueLabel, dispatch.QueueAssignee} {
		s := base
		s.Queue = q
		if err := s.Validate(true); err != nil {
			t.Errorf("queue %q: %v", q, err)
		}
	}
	s := base
	s.Queue = "assignees"
	if err := s.Validate(true); err == nil || !strings.Contains(err.Error(), "queue") {
		t.Errorf("queue %q: %v, want a problem at queue", s.Queue, err)
	}
	s.Queue = dispatch.QueueAssignee
	d, err := s.Dispatcher()
	if err != nil || d.Queue != dispatch.QueueAssignee || s.Tracker().Queue != dispatch.QueueAssignee {
		t.Errorf("dispatcher %+v, %v", d, err)
	}
	if r, err := s.Reaper(); err != nil || r.Queue != dispatch.QueueAssignee {
		t.Errorf("reaper %+v, %v", r, err)
	}
	if d, _ := base.Dispatcher(); d.Queue != dispatch.QueueLabel {
		t.Errorf("default queue %q, want label", d.Queue)
	}
}
