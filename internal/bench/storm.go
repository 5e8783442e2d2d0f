package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func (e env) connectStorm(ctx context.Context, args []string) error {
	fs := e.newFlagSet("connect-storm", "Open -conns connections from -workers goroutines at once: WebSocket upgrade (with the\n"+
		"user's Bearer token on herald), CONNECT/CONNACK, SUBSCRIBE/SUBACK on the user's topic,\n"+
		"then DISCONNECT. Reports completed connects per second and their latency. Each source\n"+
		"address gives about 28,000 ports per minute (TIME_WAIT): use -src for more.")
	var o options
	commonFlags(fs, &o)
	conns := fs.Int("conns", 5000, "connections to make in all")
	dur := fs.Duration("duration", 60*time.Second, "stop after this long even if -conns are not done")
	o.workers = 64
	fs.Lookup("workers").DefValue = "64"
	if err := fs.Parse(args); err != nil {
		return err
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
	res := runStorm(ctx, t, &o, *conns, *dur)
	return e.output(&o, []Result{res})
}

// runStorm makes n connections with up to o.workers at a time, for at most dur.
func runStorm(ctx context.Context, t *target, o *options, n int, dur time.Duration) Result {
	res := Result{Scenario: "connect-storm", Target: t.name, QoS: o.qos}
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var h Histogram
	var done, failures atomic.Int64
	var firstErr error
	var once sync.Once
	users := len(t.plan.Orgs[0].Users)
	start := time.Now()
	cpu0, own0 := cpuSeconds(t.pid), cpuSeconds(os.Getpid())
	_ = parallel(ctx, o.workers, n, func(ctx context.Context, i int) error {
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
