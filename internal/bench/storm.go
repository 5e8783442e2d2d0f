package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// stepsValue is a flag.Value holding the text of a comma-separated list of steps,
// parsed after the flags (parseSteps) so that the error names the flag.
type stepsValue struct{ s string }

func (v *stepsValue) String() string     { return v.s }
func (v *stepsValue) Set(s string) error { v.s = s; return nil }

func (e env) connectStorm(ctx context.Context, args []string) error {
	fs := e.newFlagSet("connect-storm", "Open -conns connections from -workers goroutines at once: WebSocket upgrade (with the\n"+
		"user's Bearer token on herald), CONNECT/CONNACK, SUBSCRIBE/SUBACK on the user's topic,\n"+
		"then DISCONNECT. Reports completed connects per second and their latency. Each source\n"+
		"address gives about 28,000 ports per minute (TIME_WAIT): use -src for more.\n"+
		"With steps (-workers 8,32,64,128) there is one storm of -conns per step, each after the\n"+
		"server has closed the connections of the one before: one line per concurrency.")
	var o options
	commonFlags(fs, &o)
	conns := fs.Int("conns", 5000, "connections to make in all, per step")
	dur := fs.Duration("duration", 60*time.Second, "stop a step after this long even if -conns are not done")
	// -workers (shared by every scenario, an int there) takes steps here: its value
	// is swapped for a list, parsed below.
	workers := &stepsValue{"64"}
	wf := fs.Lookup("workers")
	wf.Value, wf.DefValue = workers, "64"
	wf.Usage = "concurrent connection attempts, or comma-separated `steps` (one storm each); provisioning uses the largest"
	if err := fs.Parse(args); err != nil {
		return err
	}
	steps, err := parseSteps("-workers", workers.s, maxWorkersStep, false)
	if err != nil {
		return err
	}
	o.workers = 0
	for _, w := range steps {
		o.workers = max(o.workers, w)
	}
	o.adminPW = e.getenv("HERALD_ADMIN_PASSWORD")
	if err := o.check(); err != nil {
		return err
	}
	if *conns < 1 || *dur <= 0 || *dur > time.Hour {
		return &usageError{"-conns must be at least 1 and -duration positive, at most 1h"}
	}
	t, err := e.setup(ctx, &o)
	if err != nil {
		return err
	}
	defer t.Close()
	// The server's open files before the first step: the state each step starts from.
	base := -1
	if t.pid != 0 {
		if _, open, err := fdLimit(t.pid); err == nil {
			base = open
		}
	}
	var results []Result
	for i, w := range steps {
		if i > 0 && base >= 0 {
			e.awaitClosed(ctx, t.pid, base, 10*time.Second)
		}
		if ctx.Err() != nil {
			break // interrupted: print the steps done, as a single storm does
		}
		results = append(results, runStorm(ctx, t, &o, w, *conns, *dur))
	}
	return e.output(&o, results)
}

// closeSlack is how many more files than before the first step the server may
// have open for awaitClosed to count its connections as closed (logs, store
// files and the like come and go).
const closeSlack = 16

// awaitClosed waits, up to timeout, until the server (pid) has no more files open
// than base, what it had before the first step: each step of a storm then starts
// from the same state rather than with the previous step's closes still being
// handled. It polls /proc, as the server gives no other sign.
func (e env) awaitClosed(ctx context.Context, pid, base int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, open, err := fdLimit(pid)
		if err != nil || open <= base+closeSlack {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(e.stderr, "herald-bench: the server still has %d files open (%d before the first step); starting the next step anyway\n", open, base)
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// runStorm makes n connections with up to workers at a time, for at most dur.
func runStorm(ctx context.Context, t *target, o *options, workers, n int, dur time.Duration) Result {
	res := Result{Scenario: "connect-storm", Target: t.name, QoS: o.qos, Step: strconv.Itoa(workers)}
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var h Histogram
	var done, failures atomic.Int64
	var firstErr error
	var once sync.Once
	users := len(t.plan.Orgs[0].Users)
	start := time.Now()
	cpu0, own0 := cpuSeconds(t.pid), cpuSeconds(os.Getpid())
	_ = parallel(ctx, workers, n, func(ctx context.Context, i int) error {
		oi, ui := (i/users)%len(t.plan.Orgs), i%users
		t0 := time.Now()
		c, err := t.dialer.dial(ctx, connectOpts{bearer: t.plan.Orgs[oi].Users[ui].Token, clientID: fmt.Sprintf("bench-c-%d", i)})
		if err == nil {
			err = c.subscribe(ctx, t.plan.Topic(oi, ui), byte(o.qos))
			if err == nil {
				h.Record(time.Since(t0))
				done.Add(1)
			}
			c.disconnect()
		}
		if err != nil && ctx.Err() == nil {
			failures.Add(1)
			once.Do(func() { firstErr = err })
		}
		return nil
	})
	elapsed := time.Since(start)
	res.ServerCPU, res.ToolCPU = cpuSeconds(t.pid)-cpu0, cpuSeconds(os.Getpid())-own0
	res.Conn = int(done.Load())
	res.Failures = failures.Load()
	res.Seconds = elapsed.Seconds()
	res.ConnectsPerSec = float64(res.Conn) / elapsed.Seconds()
	res.setLatency(&h)
	if firstErr != nil {
		res.Note = fmt.Sprintf("first failure: %v", firstErr)
	}
	if res.Conn < n {
		res.Note += fmt.Sprintf(" (%d of %d connects done before the time limit)", res.Conn, n)
	}
	return res
}
