// Command dispatch benchmarks agent dispatch: issues per hour handed to a
// fake agent service with a fixed task time, with 1 and with 4 slots, by
// dispatch passes run on a (scaled-down) schedule through the
// internal/dispatch API against a real beads workspace in a temp dir; and
// the dispatcher's own overhead per pass (nothing to do, one claim), split
// into the time spent in bd processes, in the agent service and in the
// dispatcher itself. Only loopback. See README.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/labops/labops/internal/dispatch"
)

const bdVersion = "1.0.5"

type options struct {
	issues       int
	slots        []int
	interval     time.Duration
	task         time.Duration
	realInterval time.Duration
	samples      int
	bd           string
}

func main() {
	var o options
	flag.IntVar(&o.issues, "issues", 8, "issues labelled agent per throughput run")
	flag.DurationVar(&o.interval, "interval", 4*time.Second, "pass interval (scaled down)")
	flag.DurationVar(&o.task, "task", 8*time.Second, "fake agent task time (scaled down like the interval)")
	flag.DurationVar(&o.realInterval, "real-interval", 2*time.Minute, "the real pass interval the results are scaled back to")
	flag.IntVar(&o.samples, "samples", 7, "passes per overhead measurement (the median is reported)")
	flag.StringVar(&o.bd, "bd", "", "bd binary (default: $LABOPS_BD, else ~/.cache/labops/bd-"+bdVersion+", else bd on PATH)")
	flag.Parse()
	o.slots = []int{1, 4}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "dispatch:", err)
		os.Exit(1)
	}
}

func findBd(flagged string) (string, error) {
	var cands []string
	if flagged != "" {
		cands = append(cands, flagged)
	}
	if p := os.Getenv("LABOPS_BD"); p != "" {
		cands = append(cands, p)
	}
	if home, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(home, ".cache", "labops", "bd-"+bdVersion))
	}
	for _, p := range cands {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("bd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no bd binary: set LABOPS_BD or run scripts/test-deps (beads %s)", bdVersion)
}

// workspace is a throwaway beads workspace, made as labtest makes one.
type workspace struct {
	bin, dir string
}

func newWorkspace(bin, dir string) (*workspace, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("git init: %v: %s", err, out)
	}
	w := &workspace{bin: bin, dir: dir}
	if _, err := w.run("init", "--non-interactive", "--quiet", "--skip-hooks", "--skip-agents", "--prefix", "b"); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *workspace) run(args ...string) ([]byte, error) {
	cmd := exec.Command(w.bin, args...)
	cmd.Dir = w.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bd %s: %v: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

func (w *workspace) createAgentIssues(n int, tag string) error {
	for i := range n {
		out, err := w.run("create", fmt.Sprintf("%s task %d", tag, i+1), "--labels", "agent",
			"--description", "benchmark issue", "--json")
		if err != nil {
			return err
		}
		var is struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(out, &is); err != nil || is.ID == "" {
			return fmt.Errorf("bd create: reply %q: %v", out, err)
		}
	}
	return nil
}

// fakeAgent is the agent service as agent.go reads it: GET /health answers
// {"busy","slots_in_use","slots_total"}; POST /execute takes an
// ExecuteRequest and answers {"job_id"} (409 when every slot is taken),
// and the job holds its slot for the task time.
type fakeAgent struct {
	url   string
	srv   *http.Server
	task  time.Duration
	mu    sync.Mutex
	slots int
	inUse int
	jobs  int
}

func startFakeAgent(slots int, task time.Duration) (*fakeAgent, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &fakeAgent{slots: slots, task: task, url: "http://" + ln.Addr().String()}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

func (a *fakeAgent) close() { _ = a.srv.Close() }

func (a *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/health":
		a.mu.Lock()
		h := map[string]any{"busy": a.inUse >= a.slots, "slots_in_use": a.inUse, "slots_total": a.slots}
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h)
	case r.Method == http.MethodPost && r.URL.Path == "/execute":
		var req dispatch.ExecuteRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.IssueID == "" {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		if a.inUse >= a.slots {
			a.mu.Unlock()
			http.Error(w, `{"error":"busy"}`, http.StatusConflict)
			return
		}
		a.inUse++
		a.jobs++
		id := fmt.Sprintf("job-%d", a.jobs)
		a.mu.Unlock()
		time.AfterFunc(a.task, func() { a.mu.Lock(); a.inUse--; a.mu.Unlock() })
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"job_id":%q}`, id)
	default:
		http.NotFound(w, r)
	}
}

// timedTracker adds up the wall time spent in the tracker (bd processes).
type timedTracker struct {
	dispatch.Tracker
	mu    sync.Mutex
	spent time.Duration
	calls int
}

func (t *timedTracker) add(start time.Time) {
	t.mu.Lock()
	t.spent += time.Since(start)
	t.calls++
	t.mu.Unlock()
}

func (t *timedTracker) take() (time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, n := t.spent, t.calls
	t.spent, t.calls = 0, 0
	return d, n
}

func (t *timedTracker) Ready(ctx context.Context) ([]dispatch.Issue, error) {
	defer t.add(time.Now())
	return t.Tracker.Ready(ctx)
}

func (t *timedTracker) Show(ctx context.Context, id string) (dispatch.Issue, error) {
	defer t.add(time.Now())
	return t.Tracker.Show(ctx, id)
}

func (t *timedTracker) Claim(ctx context.Context, id, actor string) error {
	defer t.add(time.Now())
	return t.Tracker.Claim(ctx, id, actor)
}

func (t *timedTracker) Comment(ctx context.Context, id, text string) error {
	defer t.add(time.Now())
	return t.Tracker.Comment(ctx, id, text)
}

// timedAgent adds up the wall time spent in agent-service calls.
type timedAgent struct {
	dispatch.AgentService
	mu    sync.Mutex
	spent time.Duration
}

func (t *timedAgent) add(start time.Time) {
	t.mu.Lock()
	t.spent += time.Since(start)
	t.mu.Unlock()
}

func (t *timedAgent) take() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.spent
	t.spent = 0
	return d
}

func (t *timedAgent) Health(ctx context.Context) (dispatch.Health, error) {
	defer t.add(time.Now())
	return t.AgentService.Health(ctx)
}

func (t *timedAgent) Execute(ctx context.Context, r dispatch.ExecuteRequest) (string, error) {
	defer t.add(time.Now())
	return t.AgentService.Execute(ctx, r)
}

type harness struct {
	d       *dispatch.Dispatcher
	tracker *timedTracker
	agent   *timedAgent
}

func newHarness(w *workspace, agentURL string) (*harness, error) {
	prompt, err := dispatch.ParsePrompt("")
	if err != nil {
		return nil, err
	}
	h := &harness{
		tracker: &timedTracker{Tracker: &dispatch.Beads{Bin: w.bin, Dir: w.dir, Label: "agent", Actor: "labops-dispatch"}},
		agent:   &timedAgent{AgentService: &dispatch.Agent{URL: agentURL, Client: &http.Client{Timeout: 10 * time.Second}}},
	}
	h.d = &dispatch.Dispatcher{Tracker: h.tracker, Agent: h.agent, Prompt: prompt, ActorPrefix: "agent"}
	return h, nil
}

// pass is one dispatch pass and where its time went.
type pass struct {
	rep             *dispatch.RunReport
	wall, bd, agent time.Duration
	bdCalls         int
}

func (h *harness) pass(ctx context.Context) (pass, error) {
	h.tracker.take()
	h.agent.take()
	start := time.Now()
	rep := h.d.Run(ctx)
	p := pass{rep: rep, wall: time.Since(start)}
	p.bd, p.bdCalls = h.tracker.take()
	p.agent = h.agent.take()
	if rep.Error != "" {
		return p, errors.New(rep.Error)
	}
	if len(rep.Failed) > 0 {
		return p, fmt.Errorf("pass failed: %s: %s", rep.Failed[0].Subject, rep.Failed[0].Message)
	}
	return p, nil
}

type throughput struct {
	slots      int
	passes     int
	busy       int
	elapsed    time.Duration // first pass start to the start of the pass that dispatched the last issue
	perPass    []int
	maxPass    time.Duration
	dispatched int
}

// throughputRun dispatches n fresh issues to an agent with slots slots,
// one pass every interval, until every issue is dispatched.
func throughputRun(ctx context.Context, bin, root string, o options, slots int) (throughput, error) {
	res := throughput{slots: slots}
	w, err := newWorkspace(bin, filepath.Join(root, fmt.Sprintf("slots-%d", slots)))
	if err != nil {
		return res, err
	}
	if err := w.createAgentIssues(o.issues, fmt.Sprintf("%d-slot", slots)); err != nil {
		return res, err
	}
	a, err := startFakeAgent(slots, o.task)
	if err != nil {
		return res, err
	}
	defer a.close()
	h, err := newHarness(w, a.url)
	if err != nil {
		return res, err
	}
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	first := time.Now()
	for {
		start := time.Now()
		p, err := h.pass(ctx)
		if err != nil {
			return res, err
		}
		res.passes++
		res.maxPass = max(res.maxPass, p.wall)
		if p.rep.AgentBusy {
			res.busy++
		}
		res.perPass = append(res.perPass, len(p.rep.Dispatched))
		res.dispatched += len(p.rep.Dispatched)
		if res.dispatched >= o.issues {
			res.elapsed = start.Sub(first)
			return res, nil
		}
		if res.passes > 50*o.issues {
			return res, fmt.Errorf("%d passes and only %d of %d issues dispatched", res.passes, res.dispatched, o.issues)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
}

type overhead struct {
	name                 string
	wall, bd, agent, own time.Duration
	bdCalls              int
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summarize(name string, ps []pass) overhead {
	var walls, bds, agents, owns []time.Duration
	for _, p := range ps {
		walls = append(walls, p.wall)
		bds = append(bds, p.bd)
		agents = append(agents, p.agent)
		owns = append(owns, p.wall-p.bd-p.agent)
	}
	return overhead{name: name, wall: median(walls), bd: median(bds), agent: median(agents), own: median(owns), bdCalls: ps[0].bdCalls}
}

// overheadRun times passes with nothing to do (agent busy; queue empty)
// and with exactly one claim, in a workspace of its own.
func overheadRun(ctx context.Context, bin, root string, o options) ([]overhead, error) {
	w, err := newWorkspace(bin, filepath.Join(root, "overhead"))
	if err != nil {
		return nil, err
	}
	// Task time 0: the slot is free again before the next pass.
	a, err := startFakeAgent(1, 0)
	if err != nil {
		return nil, err
	}
	defer a.close()
	h, err := newHarness(w, a.url)
	if err != nil {
		return nil, err
	}
	// A warm-up pass, not counted.
	if _, err := h.pass(ctx); err != nil {
		return nil, err
	}
	var empty, claim []pass
	for range o.samples {
		p, err := h.pass(ctx)
		if err != nil {
			return nil, err
		}
		empty = append(empty, p)
	}
	if err := w.createAgentIssues(o.samples+1, "overhead"); err != nil {
		return nil, err
	}
	for i := range o.samples + 1 {
		time.Sleep(20 * time.Millisecond) // let the finished task free its slot
		p, err := h.pass(ctx)
		if err != nil {
			return nil, err
		}
		if len(p.rep.Dispatched) != 1 {
			return nil, fmt.Errorf("one-claim pass dispatched %d issues", len(p.rep.Dispatched))
		}
		if i > 0 { // the first warms the claim path
			claim = append(claim, p)
		}
	}
	return []overhead{summarize("nothing to do (queue empty)", empty), summarize("one claim", claim)}, nil
}

func run(ctx context.Context, o options) error {
	bin, err := findBd(o.bd)
	if err != nil {
		return err
	}
	ver, _ := exec.Command(bin, "version").Output()
	root, err := os.MkdirTemp("", "dispatch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	scale := float64(o.realInterval) / float64(o.interval)
	fmt.Printf("bd: %s (%s)\n", bin, bytes.TrimSpace(ver))
	fmt.Printf("scaled down %.0fx: pass interval %v (real %v), task time %v (real %v), %d issues per run\n\n",
		scale, o.interval, o.realInterval, o.task, time.Duration(float64(o.task)*scale), o.issues)

	fmt.Println("throughput (issues per hour at the real interval = scaled rate / scale)")
	for _, s := range o.slots {
		r, err := throughputRun(ctx, bin, root, o, s)
		if err != nil {
			return fmt.Errorf("%d slot(s): %w", s, err)
		}
		// The first pass fills every slot at t=0; the rate is the rest over
		// the time it took to dispatch them.
		rate := float64(r.dispatched-r.slots) / r.elapsed.Hours()
		fmt.Printf("  %d slot(s): %d issues in %d passes (%d agent busy), last dispatched at %.1fs; longest pass %v\n",
			s, r.dispatched, r.passes, r.busy, r.elapsed.Seconds(), r.maxPass.Round(time.Millisecond))
		fmt.Printf("             per pass %v\n", r.perPass)
		fmt.Printf("             %.0f issues/hour scaled, %.1f issues/hour at a %v interval (%.1f passes per issue)\n",
			rate, rate/scale, o.realInterval, float64(r.passes-1)/float64(r.dispatched-r.slots))
	}

	ovs, err := overheadRun(ctx, bin, root, o)
	if err != nil {
		return fmt.Errorf("overhead: %w", err)
	}
	fmt.Printf("\noverhead per pass (median of %d passes; bd = wall time in bd processes)\n", o.samples)
	for _, v := range ovs {
		fmt.Printf("  %-28s wall %7.1fms  bd %7.1fms (%d calls)  agent %5.2fms  dispatcher itself %5.2fms\n",
			v.name, ms(v.wall), ms(v.bd), v.bdCalls, ms(v.agent), ms(v.own))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
