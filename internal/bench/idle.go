package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fdReserve is how many file descriptors a process keeps for everything other than
// the benchmark's connections (store files, listeners, pipes).
const fdReserve = 200

// Upper bounds of a -conns and a -workers step: far above what one machine can
// do, low enough that a typo cannot make the tool allocate gigabytes up front.
const (
	maxConnsStep   = 10_000_000
	maxWorkersStep = 100_000
)

func (e env) idle(ctx context.Context, args []string) error {
	fs := e.newFlagSet("idle", "Open -conns authenticated subscribers (capped by this process's and the server's\n"+
		"open-file limits), each on its user's topic, leave them idle and report the server's\n"+
		"resident memory (VmRSS) per connection. Users share tokens round-robin; client ids differ.\n"+
		"With steps (-conns 2000,5000,10000) each step opens more connections up to its total,\n"+
		"keeping the earlier ones open, and reports one line: memory against connections open.")
	var o options
	commonFlags(fs, &o)
	connsFlag := fs.String("conns", "10000", "idle connections to open, or comma-separated rising totals (`steps`); capped by the open-file limits")
	settle := fs.Duration("settle", 3*time.Second, "wait after the last connection of a step before reading memory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.adminPW = e.getenv("HERALD_ADMIN_PASSWORD")
	if err := o.check(); err != nil {
		return err
	}
	steps, err := parseSteps("-conns", *connsFlag, maxConnsStep, true)
	if err != nil {
		return err
	}
	t, err := e.setup(ctx, &o)
	if err != nil {
		return err
	}
	defer t.Close()
	steps = e.capSteps(steps, t.pid)
	if n, users := steps[len(steps)-1], o.orgs*o.users; t.name == "herald" && n > 100*users {
		// herald's broker allows 100 connections per principal by default.
		fmt.Fprintf(e.stderr, "herald-bench: %d connections over %d users exceed herald's 100 per user; raise -orgs or -users\n", n, users)
	}
	results, err := runIdle(ctx, t, &o, steps, *settle)
	// The steps measured before an error (or an interrupt) are still worth printing.
	if len(results) > 0 {
		if oerr := e.output(&o, results); err == nil {
			err = oerr
		}
	}
	return err
}

// parseSteps parses a flag holding one count or comma-separated counts (steps),
// each from 1 to limit, at most maxSteps of them; with rising, each must be above
// the one before (idle's steps are running totals).
func parseSteps(name, s string, limit int, rising bool) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		v, err := strconv.Atoi(f)
		switch {
		case f == "":
			return nil, &usageError{fmt.Sprintf("%s: empty step in %q", name, s)}
		case err != nil || v < 1:
			return nil, &usageError{fmt.Sprintf("%s: %q is not a whole number of at least 1", name, f)}
		case v > limit:
			return nil, &usageError{fmt.Sprintf("%s: %d is above the limit of %d", name, v, limit)}
		case rising && len(out) > 0 && v <= out[len(out)-1]:
			return nil, &usageError{fmt.Sprintf("%s: steps are running totals and must rise, but %d follows %d", name, v, out[len(out)-1])}
		}
		out = append(out, v)
	}
	if len(out) > maxSteps {
		return nil, &usageError{fmt.Sprintf("%s: %d steps; at most %d", name, len(out), maxSteps)}
	}
	return out, nil
}

// capSteps applies the open-file limits (capConns) to the largest step and drops
// the steps above the result, saying so. When none is left, the one step is the
// limit itself, as with a single -conns value.
func (e env) capSteps(steps []int, serverPid int) []int {
	n := e.capConns(steps[len(steps)-1], serverPid)
	var kept, dropped []string
	out := steps[:0:0]
	for _, s := range steps {
		if s <= n {
			out = append(out, s)
			kept = append(kept, strconv.Itoa(s))
		} else {
			dropped = append(dropped, strconv.Itoa(s))
		}
	}
	if len(out) == 0 {
		return []int{n}
	}
	if len(dropped) > 0 {
		fmt.Fprintf(e.stderr, "herald-bench: -conns steps %s dropped: above the open-file limits (%d); measuring %s\n",
			strings.Join(dropped, ","), n, strings.Join(kept, ","))
	}
	return out
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

// runIdle opens idle subscribers up to each step's total in turn, keeping them all
// open, and after each step measures the server's memory against what it was
// before the first: one Result per step completed. Conn counts the connections
// open, Failures the failed attempts so far, so Conn + Failures is the step.
func runIdle(ctx context.Context, t *target, o *options, steps []int, settle time.Duration) ([]Result, error) {
	var users []int // flattened (org, user) pairs
	for oi, org := range t.plan.Orgs {
		for ui := range org.Users {
			users = append(users, oi<<20|ui)
		}
	}
	var rssBefore int64
	if t.pid != 0 {
		var err error
		if rssBefore, err = rss(t.pid); err != nil {
			return nil, err
		}
	}
	ownBefore, _ := rss(os.Getpid())
	conns := make([]*conn, steps[len(steps)-1])
	// The connections stay open until runIdle returns; none has a reader: they are idle.
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	var failures atomic.Int64
	var results []Result
	prev := 0
	for _, total := range steps {
		res := Result{Scenario: "idle", Target: t.name, QoS: o.qos, RSSBefore: rssBefore}
		if len(steps) > 1 {
			res.Step = strconv.Itoa(total)
		}
		var firstErr error
		var once sync.Once
		failed0 := failures.Load()
		start := time.Now()
		_ = parallel(ctx, o.workers, total-prev, func(ctx context.Context, j int) error {
			i := prev + j
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
			return results, ctx.Err()
		}
		res.Failures = failures.Load()
		res.Conn = total - int(res.Failures)
		// The rate of this step's connects, not of the running total.
		res.ConnectsPerSec = float64(total-prev-int(res.Failures-failed0)) / elapsed.Seconds()
		if firstErr != nil {
			res.Note = fmt.Sprintf("first failure: %v", firstErr)
		}
		select {
		case <-time.After(settle):
		case <-ctx.Done():
			return results, ctx.Err()
		}
		if t.pid != 0 && res.Conn > 0 {
			var err error
			if res.RSSAfter, err = rss(t.pid); err != nil {
				return results, err
			}
			res.BytesPerConn = float64(res.RSSAfter-res.RSSBefore) / float64(res.Conn)
		}
		if ownAfter, err := rss(os.Getpid()); err == nil && res.Conn > 0 {
			res.ClientBytesPerConn = float64(ownAfter-ownBefore) / float64(res.Conn)
		}
		results = append(results, res)
		prev = total
	}
	return results, nil
}
