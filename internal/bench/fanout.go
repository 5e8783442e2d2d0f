package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
)

// stepStats are the measurements of one step, shared by every subscriber (all
// fields are atomic).
type stepStats struct {
	hist                   Histogram
	delivered, dups, wrong atomic.Int64
	bytes                  atomic.Int64
	lastNs                 atomic.Int64 // time of the latest delivery
}

func (s *stepStats) noteTime(ns int64) {
	for {
		l := s.lastNs.Load()
		if ns <= l || s.lastNs.CompareAndSwap(l, ns) {
			return
		}
	}
}

// stats holds the stepStats of a run: steps[k] for step k, and separately those
// of the slow consumer, which are not part of the fast subscribers' figures.
type stats struct {
	steps [maxSteps + 1]stepStats
	slow  [maxSteps + 1]stepStats
	other atomic.Int64 // messages without a marker (herald's own events)
}

// subscriber is one subscribing connection. It may see topics [lo, hi) (topic
// index = org·users + user) and checks that sequence numbers rise per topic.
type subscriber struct {
	c      *conn
	lo, hi int
	slow   bool
	delay  time.Duration // per message, for a slow consumer that reads
	last   map[int]uint64
}

// read receives messages until the connection closes, acknowledging QoS 1
// deliveries in batches (one write per read that the decoder has drained).
func (s *subscriber) read(st *stats) {
	s.last = map[int]uint64{}
	s.c.receive(func(p *mqtt.Publish, now int64) {
		s.record(st, p.Payload, now)
		if s.delay > 0 {
			time.Sleep(s.delay) // a slow consumer, by design of the scenario
		}
	})
}

// record accounts for one delivered message received at now (Unix ns).
func (s *subscriber) record(st *stats, payload []byte, now int64) {
	m, err := parseMarker(payload)
	if err != nil || m.Step >= len(st.steps) {
		st.other.Add(1)
		return
	}
	ss := &st.steps[m.Step]
	if s.slow {
		ss = &st.slow[m.Step]
	}
	ss.hist.Record(time.Duration(now - m.SentNs))
	ss.delivered.Add(1)
	ss.bytes.Add(int64(len(payload)))
	ss.noteTime(now)
	if m.Topic < s.lo || m.Topic >= s.hi {
		ss.wrong.Add(1)
	}
	if m.Seq <= s.last[m.Topic] {
		ss.dups.Add(1)
	} else {
		s.last[m.Topic] = m.Seq
	}
}

// producer sends notifications to its share of the topics, over MQTT as the
// service account, or over REST as the system administrator.
type producer struct {
	c      *conn // MQTT; nil for REST
	window chan struct{}
	acked  atomic.Int64
	failed atomic.Int64
	pid    uint16

	topics []int      // topic indexes
	tpls   []template // MQTT: per topic
	bodies [][]byte   // REST: per topic
	marks  []int      // REST: marker offset per body
	paths  []string   // REST: per topic
	seq    []uint64   // per topic, continuing across steps

	rest  *api
	token string
}

// readAcks counts PUBACKs and frees window slots until the connection closes.
func (p *producer) readAcks() {
	for {
		pk, err := p.c.r.ReadPacket()
		if err != nil {
			return
		}
		if a, ok := pk.(*mqtt.Puback); ok {
			if a.ReasonCode >= 0x80 {
				p.failed.Add(1)
			} else {
				p.acked.Add(1)
			}
			select {
			case <-p.window:
			default:
			}
		}
	}
}

// run produces step's notifications at rate per second (0: as fast as the window
// allows) for dur, then returns. The send time is stamped just before the write.
func (p *producer) run(ctx context.Context, step int, rate float64, dur time.Duration) error {
	start := time.Now()
	deadline := start.Add(dur)
	timer := time.NewTimer(dur)
	defer timer.Stop()
	var sent int64
	next := 0
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(deadline) {
			return nil
		}
		batch := int64(64)
		if rate > 0 {
			due := int64(rate*now.Sub(start).Seconds()) + 1 - sent
			if due <= 0 {
				time.Sleep(min(time.Duration(float64(time.Second)/rate), time.Millisecond))
				continue
			}
			batch = min(batch, due)
		}
		var n int64
		var err error
		if p.c != nil {
			n, err = p.sendMQTT(ctx, step, batch, &next, timer.C)
		} else {
			n, err = p.sendREST(ctx, step, &next)
		}
		if err != nil {
			return err
		}
		sent += n
	}
	return nil
}

// sendMQTT writes up to batch PUBLISH packets as one WebSocket message, waiting for
// a window slot for the first only.
func (p *producer) sendMQTT(ctx context.Context, step int, batch int64, next *int, stop <-chan time.Time) (int64, error) {
	buf := p.c.buf[:0]
	var n int64
	for n < batch {
		if n == 0 {
			select {
			case p.window <- struct{}{}:
			case <-stop:
				return 0, nil
			case <-ctx.Done():
				return 0, nil
			}
		} else {
			select {
			case p.window <- struct{}{}:
			default:
				batch = n
				continue
			}
		}
		i := *next
		*next = (i + 1) % len(p.topics)
		p.seq[i]++
		t := &p.tpls[i]
		t.stamp(Marker{Step: step, Topic: p.topics[i], Seq: p.seq[i], SentNs: time.Now().UnixNano()})
		p.pid++
		if p.pid == 0 {
			p.pid = 1
		}
		var err error
		buf, err = mqtt.AppendPublish(buf, mqtt.Version311, mqtt.PublishHeader{QoS: 1, PacketID: p.pid}, t.topic, nil, t.msg)
		if err != nil {
			return n, fmt.Errorf("encode publish: %w", err)
		}
		n++
	}
	p.c.buf = buf
	if _, err := p.c.nc.Write(buf); err != nil {
		return n, fmt.Errorf("producer write: %w", err)
	}
	return n, nil
}

// sendREST posts one external event (VCD-COMPAT §8.3) and waits for its 204.
func (p *producer) sendREST(ctx context.Context, step int, next *int) (int64, error) {
	i := *next
	*next = (i + 1) % len(p.topics)
	p.seq[i]++
	putMarker(p.bodies[i][p.marks[i]:], Marker{Step: step, Topic: p.topics[i], Seq: p.seq[i], SentNs: time.Now().UnixNano()})
	_, err := p.rest.do(ctx, http.MethodPost, p.paths[i], p.bodies[i], "application/vnd.vmware.admin.event+json",
		p.token, [2]string{}, http.StatusNoContent, nil)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		p.failed.Add(1)
		return 0, err
	}
	p.acked.Add(1)
	return 1, nil
}

// fanoutOptions are the flags of fanout and slow-consumer.
type fanoutOptions struct {
	options
	size      int
	rates     string
	duration  time.Duration
	drain     time.Duration
	via       string
	producers int
	window    int
	slowDelay time.Duration
}

func (e env) fanout(ctx context.Context, args []string, slow bool) error {
	name, summary := "fanout", "Subscribe every user to publish/{org}/{user}, each org admin to publish/{org}/+ and the\n"+
		"system admin to publish/#, then publish notifications at each -rate for -duration and\n"+
		"report deliveries per second and end-to-end latency (from a timestamp in the message)."
	if slow {
		name, summary = "slow-consumer", "The fanout at each -rate three times: first as is (baseline), then with one more\n"+
			"publish/# subscriber that reads one message per -slow-delay (0: never reads), then\n"+
			"again without it (after), so that what changes with the server's age alone shows.\n"+
			"The slow subscriber's own deliveries are reported apart; the table shows the\n"+
			"other subscribers' figures."
	}
	fs := e.newFlagSet(name, summary)
	var o fanoutOptions
	commonFlags(fs, &o.options)
	fs.IntVar(&o.size, "size", 800, "notification size in bytes (MQTT: exact envelope size; REST: typeFull padding)")
	fs.StringVar(&o.rates, "rate", "1000", "notifications per second, comma-separated steps; 0 = as fast as possible")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "production time per step")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "after a step, wait at most this long without progress for the last deliveries")
	fs.StringVar(&o.via, "via", "mqtt", "mqtt (service account, form C, QoS 1) or rest (POST /api/admin/org/{id}/events)")
	fs.IntVar(&o.producers, "producers", 4, "producer connections (MQTT) or concurrent REST callers")
	fs.IntVar(&o.window, "window", 100, "outstanding PUBACKs per MQTT producer")
	if slow {
		fs.DurationVar(&o.slowDelay, "slow-delay", 0, "the slow consumer's pause per message; 0: it never reads")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.adminPW = e.getenv("HERALD_ADMIN_PASSWORD")
	if err := o.check(); err != nil {
		return err
	}
	rates, err := parseRates(o.rates)
	if err != nil {
		return err
	}
	switch {
	case o.via != "mqtt" && o.via != "rest":
		return &usageError{"-via must be mqtt or rest"}
	case o.via == "rest" && o.target != "herald":
		return &usageError{"-via rest needs -target herald"}
	case o.target == "null":
		return &usageError{"the null server routes nothing: -target null is for connect-storm and idle"}
	case o.producers < 1 || o.window < 1 || o.size < 1:
		return &usageError{"-producers, -window and -size must be at least 1"}
	case o.duration <= 0 || o.duration > time.Hour:
		return &usageError{"-duration must be positive and at most 1h"}
	case slow && len(rates)*3 > maxSteps:
		return &usageError{"-rate: too many steps"}
	}
	t, err := e.setup(ctx, &o.options)
	if err != nil {
		return err
	}
	defer t.Close()
	results, err := runFanout(ctx, t, &o, rates, slow)
	if err != nil {
		return err
	}
	return e.output(&o.options, results)
}

// runFanout connects the subscribers and producers, runs the steps and returns one
// result per step.
func runFanout(ctx context.Context, t *target, o *fanoutOptions, rates []float64, slow bool) ([]Result, error) {
	plan := t.plan
	users := len(plan.Orgs[0].Users)
	nTopics := len(plan.Orgs) * users
	st := &stats{}
	var wg sync.WaitGroup
	var conns []*conn
	var mu sync.Mutex
	// Every connection is closed on return, which ends its reader goroutine; wg
	// then waits for them.
	defer func() {
		for _, c := range conns {
			c.close()
		}
		wg.Wait()
	}()
	keep := func(c *conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	startReader := func(s *subscriber) {
		wg.Add(1)
		go func() { defer wg.Done(); s.read(st) }()
	}

	// Subscribers: users, then org admins, then the system admin.
	type subSpec struct {
		token, filter, clientID string
		lo, hi                  int
	}
	var specs []subSpec
	for oi, org := range plan.Orgs {
		for ui, u := range org.Users {
			ti := oi*users + ui
			specs = append(specs, subSpec{u.Token, plan.Topic(oi, ui), fmt.Sprintf("bench-s-%d-%d", oi, ui), ti, ti + 1})
		}
		specs = append(specs, subSpec{org.AdminToken, "publish/" + org.ID + "/+", fmt.Sprintf("bench-a-%d", oi), oi * users, (oi + 1) * users})
	}
	specs = append(specs, subSpec{plan.SysToken, "publish/#", "bench-sys", 0, nTopics})
	err := parallel(ctx, o.workers, len(specs), func(ctx context.Context, i int) error {
		sp := specs[i]
		c, err := t.dialer.dial(ctx, connectOpts{bearer: sp.token, clientID: sp.clientID})
		if err != nil {
			return fmt.Errorf("subscriber %s: %w", sp.clientID, err)
		}
		keep(c)
		if err := c.subscribe(ctx, sp.filter, byte(o.qos)); err != nil {
			return fmt.Errorf("subscriber %s: %w", sp.clientID, err)
		}
		startReader(&subscriber{c: c, lo: sp.lo, hi: sp.hi})
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Producers: topic i goes to producer i mod P, so each topic has one
	// producer and its messages stay in order.
	prods := make([]*producer, o.producers)
	run := newRunID()
	for pi := range prods {
		p := &producer{window: make(chan struct{}, o.window), rest: t.api, token: plan.SysToken}
		for ti := pi; ti < nTopics; ti += o.producers {
			oi, ui := ti/users, ti%users
			org, u := plan.Orgs[oi], plan.Orgs[oi].Users[ui]
			p.topics = append(p.topics, ti)
			p.seq = append(p.seq, 0)
			if o.via == "rest" {
				b, m := externalEventBody(u.ID, o.size)
				p.bodies, p.marks = append(p.bodies, b), append(p.marks, m)
				p.paths = append(p.paths, "/api/admin/org/"+org.ID+"/events")
			} else {
				p.tpls = append(p.tpls, newEventTemplate(org.ID, u.ID, run, o.size))
			}
		}
		if len(p.topics) == 0 {
			continue
		}
		if o.via == "mqtt" {
			c, err := t.dialer.dial(ctx, connectOpts{username: plan.ProducerName, password: plan.ProducerSecret,
				clientID: fmt.Sprintf("bench-producer-%d", pi)})
			if err != nil {
				return nil, fmt.Errorf("producer: %w", err)
			}
			keep(c)
			p.c = c
			wg.Add(1)
			go func() { defer wg.Done(); p.readAcks() }()
		}
		prods[pi] = p
	}

	var results []Result
	step := 0
	runStep := func(label string, r float64) error {
		res, err := runStep(ctx, prods, st, step, r, o, len(specs), t.pid)
		if err != nil {
			return err
		}
		res.Target, res.Step = t.name, label
		if slow {
			res.Scenario = "slow-consumer"
		}
		results = append(results, res)
		step++
		return nil
	}
	if !slow {
		for i, r := range rates {
			if err := runStep(fmt.Sprintf("%d", i+1), r); err != nil {
				return results, err
			}
		}
		return results, nil
	}
	// phase runs every rate once, each step named label.
	phase := func(label string) error {
		for _, r := range rates {
			if err := runStep(label, r); err != nil {
				return err
			}
		}
		return nil
	}
	if err := phase("baseline"); err != nil {
		return results, err
	}
	// The slow consumer: one more system admin connection on publish/#.
	sc, err := t.dialer.dial(ctx, connectOpts{bearer: plan.SysToken, clientID: "bench-slow"})
	if err != nil {
		return results, fmt.Errorf("slow consumer: %w", err)
	}
	keep(sc)
	if err := sc.subscribe(ctx, "publish/#", byte(o.qos)); err != nil {
		return results, fmt.Errorf("slow consumer: %w", err)
	}
	if o.slowDelay > 0 {
		startReader(&subscriber{c: sc, lo: 0, hi: nTopics, slow: true, delay: o.slowDelay})
	}
	first := step
	if err := phase("with-slow"); err != nil {
		return results, err
	}
	for k := first; k < step; k++ {
		r := &results[k]
		got := st.slow[k].delivered.Load()
		r.Note = fmt.Sprintf("slow consumer (delay %v) received %d of %d", o.slowDelay, got, r.Sent)
	}
	// The same steps again without it: a server's latency also changes with what it
	// has stored (herald's collector marks more), which the "with" steps, running
	// later, would otherwise be blamed for.
	sc.close()
	err = phase("after") // before results is read: phase appends to it
	return results, err
}

// runStep runs one step on every producer at once and waits for its deliveries.
// pid is the server's process, for its CPU time (0: unknown).
func runStep(ctx context.Context, prods []*producer, st *stats, step int, rate float64, o *fanoutOptions, subs int, pid int) (Result, error) {
	var active []*producer
	for _, p := range prods {
		if p != nil {
			active = append(active, p)
		}
	}
	before := make([]int64, len(active))
	for i, p := range active {
		before[i] = p.acked.Load()
	}
	start := time.Now()
	cpu0, own0 := cpuSeconds(pid), cpuSeconds(os.Getpid())
	errs := make([]error, len(active))
	var wg sync.WaitGroup
	for i, p := range active {
		wg.Add(1)
		// Each producer returns after o.duration (or when ctx ends).
		go func() {
			defer wg.Done()
			errs[i] = p.run(ctx, step, rate/float64(len(active)), o.duration)
		}()
	}
	wg.Wait()
	prodEnd := time.Now()
	for _, err := range errs {
		if err != nil {
			return Result{}, err
		}
	}
	// Wait for the outstanding acknowledgements, then for the deliveries: each
	// notification reaches its user, its org admin and the system admin.
	ss := &st.steps[step]
	var sent int64
	count := func() int64 {
		sent = 0
		for i, p := range active {
			sent += p.acked.Load() - before[i]
		}
		return sent
	}
	lastProgress, lastCount := time.Now(), int64(-1)
	for ctx.Err() == nil {
		c := count() + ss.delivered.Load()
		if c != lastCount {
			lastCount, lastProgress = c, time.Now()
		}
		inflight := 0
		for _, p := range active {
			inflight += len(p.window)
		}
		if (inflight == 0 && ss.delivered.Load() >= 3*sent) || time.Since(lastProgress) > o.drain {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	count()
	cpu1, own1 := cpuSeconds(pid), cpuSeconds(os.Getpid())
	res := Result{Scenario: "fanout", QoS: o.qos, Via: o.via, Size: o.size, Subscribers: subs, OfferedRate: rate,
		Sent: sent, Expected: 3 * sent, Delivered: ss.delivered.Load(), Duplicates: ss.dups.Load(), Misrouted: ss.wrong.Load()}
	res.Seconds = prodEnd.Sub(start).Seconds()
	res.ServerCPU, res.ToolCPU = cpu1-cpu0, own1-own0
	res.SentRate = float64(sent) / res.Seconds
	res.Lost = res.Expected - (res.Delivered - res.Duplicates)
	if last := ss.lastNs.Load(); last > start.UnixNano() && res.Delivered > 0 {
		res.DeliveriesPerSec = float64(res.Delivered) / (float64(last-start.UnixNano()) / 1e9)
		res.AvgBytes = float64(ss.bytes.Load()) / float64(res.Delivered)
	}
	res.setLatency(&ss.hist)
	for _, p := range active {
		if f := p.failed.Load(); f > 0 {
			res.Failures += f
		}
	}
	return res, nil
}
