package dispatch_test

import (
	"testing"
	"time"

	"github.com/labops/labops/internal/dispatch"
)

func TestElect(t *testing.T) {
	t.Parallel()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	c := func(id string, s int, text string) dispatch.Comment {
		return dispatch.Comment{ID: id, CreatedAt: at(s), Text: text}
	}
	cs := []dispatch.Comment{
		c("05", 3, "claim: b"), // same second as a: the id decides
		c("04", 3, "claim: a"),
		c("01", 1, "claim: old"),
		c("02", 2, "dispatched: job=1"),
		c("06", 4, "claim: c"),
		c("00", 0, "claim: before"),
	}
	for pass, want := range map[string]bool{"a": true, "b": false, "c": false} {
		won, epoch, found := dispatch.Elect(cs, pass)
		if won != want || epoch != "02" || !found {
			t.Errorf("%s: won %v epoch %q found %v", pass, won, epoch, found)
		}
	}
	if won, _, found := dispatch.Elect(cs, "old"); won || !found {
		t.Errorf("a claim before the marker: won %v found %v", won, found)
	}
	if _, _, found := dispatch.Elect(cs, "nobody"); found {
		t.Error("a claim never made was found")
	}
	// A release closes the round; a claim left far behind is ignored.
	cs = append(cs, c("07", 5, "release: a — boom"), c("08", 6, "claim: stale"), c("09", 6+3600, "claim: d"))
	if won, epoch, _ := dispatch.Elect(cs, "d"); !won || epoch != "07" {
		t.Errorf("d: won %v epoch %q", won, epoch)
	}
	if won, _, _ := dispatch.Elect(cs, "stale"); !won {
		t.Error("stale: its own view should still elect it")
	}
}
