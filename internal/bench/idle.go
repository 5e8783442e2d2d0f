package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fdReserve is how many file descriptors a process keeps for everything other than
// the benchmark's connections (store files, listeners, pipes).
const fdReserve = 200

func (e env) idle(ctx context.Context, args []string) error {
	fs := e.newFlagSet("idle", "Open -conns authenticated subscribers (capped by this process's and the server's\n"+
		"open-file limits), each on its user's topic, leave them idle and report the server's\n"+
		"resident memory (VmRSS) per connection. Users share tokens round-robin; client ids differ.")
	var o options
	commonFlags(fs, &o)
	conns := fs.Int("conns", 10000, "idle connections to open (capped by the open-file limits)")
	settle := fs.Duration("settle", 3*time.Second, "wait after the last connection before reading memory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.adminPW = e.getenv("HERALD_ADMIN_PASSWORD")
	if err := o.check(); err != nil {
		return err
	}
	if *conns < 1 {
		return &usageError{"-conns must be at least 1"}
	}
	t, err := e.setup(ctx, &o)
	if err != nil {
		return err
	}
	defer t.Close()
	n := e.capConns(*conns, t.pid)
	if users := o.orgs * o.users; t.name == "herald" && n > 100*users {
		// herald's broker allows 100 connections per principal by default.
		fmt.Fprintf(e.stderr, "herald-bench: %d connections over %d users exceed herald's 100 per user; raise -orgs or -users\n", n, users)
	}
	res, err := runIdle(ctx, t, &o, n, *settle)
	if err != nil {
		return err
	}
	return e.output(&o, []Result{res})
}

// capConns lowers n to what both this process's and the server's open-file limits
// allow, and says so.
func (e env) capConns(n, serverPid int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		if own := int(lim.Cur) - fdReserve; n > own {
			fmt.Fprintf(e.stderr, "herald-bench: -conns %d lowered to %d: this process may open %d files (ulimit -n); run several herald-bench processes for more\n", n, own, lim.Cur)
			n = own
		}
	}
	if serverPid != 0 {
		if limit, open, err := fdLimit(serverPid); err == nil {
			if room := limit - open - fdReserve; n > room {
				fmt.Fprintf(e.stderr, "herald-bench: -conns %d lowered to %d: the server (pid %d) may open %d files and has %d open\n", n, room, serverPid, limit, open)
				n = room
			}
		}
	}
	return max(n, 1)
}

// runIdle opens n idle subscribers and measures the server's memory before and after.
func runIdle(ctx context.Context, t *target, o *options, n int, settle time.Duration) (Result, error) {
	res := Result{Scenario: "idle", Target: t.name, QoS: o.qos}
	var users []int // flattened (org, user) pairs
	for oi, org := range t.plan.Orgs {
		for ui := range org.Users {
			users = append(users, oi<<20|ui)
		}
	}
	if t.pid != 0 {
		var err error
		if res.RSSBefore, err = rss(t.pid); err != nil {
			return res, err
		}
	}
	ownBefore, _ := rss(os.Getpid())
	conns := make([]*conn, n)
	// The connections stay open until runIdle returns; none has a reader: they are idle.
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	var failures atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	_ = parallel(ctx, o.workers, n, func(ctx context.Context, i int) error {
		k := users[i%len(users)]
		oi, ui := k>>20, k&(1<<20-1)
		c, err := t.dialer.dial(ctx, connectOpts{bearer: t.plan.Orgs[oi].Users[ui].Token, clientID: fmt.Sprintf("bench-i-%d", i)})
		if err == nil {
			if err = c.subscribe(ctx, t.plan.Topic(oi, ui), byte(o.qos)); err != nil {
				c.close()
			}
		}
		if err != nil {
			failures.Add(1)
			once.Do(func() { firstErr = err })
			return nil
		}
		conns[i] = c
		return nil
	})
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Failures = failures.Load()
	res.Conn = n - int(res.Failures)
	res.ConnectsPerSec = float64(res.Conn) / elapsed.Seconds()
	if firstErr != nil {
		res.Note = fmt.Sprintf("first failure: %v", firstErr)
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if t.pid != 0 && res.Conn > 0 {
		var err error
		if res.RSSAfter, err = rss(t.pid); err != nil {
			return res, err
		}
		res.BytesPerConn = float64(res.RSSAfter-res.RSSBefore) / float64(res.Conn)
	}
	if ownAfter, err := rss(os.Getpid()); err == nil && res.Conn > 0 {
		res.ClientBytesPerConn = float64(ownAfter-ownBefore) / float64(res.Conn)
	}
	return res, nil
}
