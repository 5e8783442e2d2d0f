package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/notify"
)

// The metrics scenario (VCD-COMPAT §9.3): collectors post batches of VM samples to
// POST /cloudapi/herald/1.0.0/metrics/samples over several keep-alive connections,
// and a system administrator subscribed to metrics/# receives the METRICS envelopes
// herald publishes once per vApp per interval.
//
// Each batch carries all of VCD's metrics (VCD-COMPAT §9.2) of -batch VMs. A VM
// belongs to one sender, which posts its batches one after another, so a VM's
// samples are stored in the order they were sent. Every metric of a VM's k-th batch
// has the value k: an envelope's value of a VM names the newest batch of that VM it
// reflects, and the tool knows when that batch was sent and acknowledged. From
// that, after the run:
//
//   - latency: for each envelope, the time it was received minus the time the tool
//     sent the newest batch the envelope reflects (the sample timestamps it put in;
//     herald prints them to the millisecond, the tool keeps them to the nanosecond).
//     It includes the POST itself, the wait for the interval's end and the
//     publication. Envelopes of an interval that ends after the last request are
//     left out (their newest sample waited for the end of an interval that got no
//     more). Delay is the receipt minus the envelope's interval end, for all;
//   - unreflected: accepted samples that no envelope shows (the last value of each
//     VM in the envelopes must be its last accepted batch);
//   - missed: interval ends at which a vApp had a batch acknowledged (so stored)
//     that no earlier envelope reflects, but no envelope came; expected envelopes
//     are the received ones plus the missed;
//   - stale (an envelope without a batch acknowledged before its interval end),
//     repeated (an envelope with nothing new), duplicates (two of one vApp and
//     interval), misrouted (a topic or VM that does not match the inventory).

// metricsOptions are the flags of the metrics command.
type metricsOptions struct {
	url, cacert, admin, src string
	insecure, json          bool
	pid, workers            int
	orgs, vapps, vms        int
	batch, conns            int
	rate                    float64
	interval                time.Duration
	duration, drain         time.Duration
	adminPW                 string
}

// Bounds of the metrics scenario: the tool keeps 4 bytes per VM per batch, and the
// ingestion endpoint bounds a request body (1 MiB by default).
const (
	maxMetricsVMs      = 1_000_000
	maxMetricsDuration = 15 * time.Minute
	maxBatchVMs        = 4096
)

func (e env) metrics(ctx context.Context, args []string) error {
	fs := e.newFlagSet("metrics", "Provision -orgs × -vapps vApps of -vms VMs, enable metrics publishing every -interval,\n"+
		"then post batches of samples (all 8 metrics of -batch VMs per request) at -rate samples/s\n"+
		"for -duration over -conns keep-alive connections, while the system administrator receives\n"+
		"the METRICS envelopes on metrics/#. Reports accepted samples/s, envelopes/s received and\n"+
		"expected, publish latency (envelope receipt minus the send time of the newest batch it\n"+
		"reflects) and the server's CPU and memory. The previous metrics settings are restored.")
	var o metricsOptions
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "herald base URL (http, or https with -cacert or -insecure); loopback only")
	fs.StringVar(&o.cacert, "cacert", "", "PEM file of the CA that signed herald's certificate (e.g. <data-dir>/tls/ca.pem)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify herald's TLS certificate")
	fs.StringVar(&o.admin, "admin", "administrator@System", "system administrator; the password comes from HERALD_ADMIN_PASSWORD")
	fs.StringVar(&o.src, "src", "127.0.0.1", "comma-separated loopback source addresses to spread connections over")
	fs.IntVar(&o.workers, "workers", 16, "concurrent provisioning requests")
	fs.IntVar(&o.pid, "pid", 0, "server process id for CPU and memory figures (default: the process listening on the target port)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per result line instead of a table")
	fs.IntVar(&o.orgs, "orgs", 10, "number of orgs, bench-org-0…")
	fs.IntVar(&o.vapps, "vapps", 100, "vApps per org, bench-vapp-0…")
	fs.IntVar(&o.vms, "vms", 10, "VMs per vApp (existing vApps get more VMs if they have fewer)")
	fs.IntVar(&o.batch, "batch", 125, "VMs per request (each with the 8 metrics of VCD-COMPAT §9.2)")
	fs.IntVar(&o.conns, "conns", 4, "concurrent senders, each on its own keep-alive connection")
	fs.Float64Var(&o.rate, "rate", 100_000, "offered samples per second; 0 = as fast as the senders go")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "metrics publication interval (whole seconds, 1s to 1h)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "time to post samples")
	fs.DurationVar(&o.drain, "drain", 0, "after posting, wait at most this long without progress for the last envelopes (0: 2×-interval + 5s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.adminPW = e.getenv("HERALD_ADMIN_PASSWORD")
	if err := o.check(); err != nil {
		return err
	}
	res, err := e.runMetrics(ctx, &o)
	if err != nil {
		return err
	}
	if o.json {
		if err := json.NewEncoder(e.stdout).Encode(res); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
		return nil
	}
	res.writeTable(e.stdout)
	return nil
}

// check validates the options.
func (o *metricsOptions) check() error {
	switch {
	case o.orgs < 1 || o.vapps < 1 || o.vms < 1 || o.orgs*o.vapps*o.vms > maxMetricsVMs:
		return &usageError{fmt.Sprintf("-orgs, -vapps and -vms must be at least 1, with at most %d VMs in all", maxMetricsVMs)}
	case o.vms > 1024:
		return &usageError{"-vms: herald allows at most 1024 VMs per vApp"}
	case o.batch < 1 || o.batch > maxBatchVMs:
		return &usageError{fmt.Sprintf("-batch must be from 1 to %d", maxBatchVMs)}
	case o.conns < 1 || o.conns > 256 || o.workers < 1:
		return &usageError{"-conns must be from 1 to 256, -workers at least 1"}
	case o.rate < 0:
		return &usageError{"-rate must not be negative"}
	case o.interval < time.Second || o.interval > time.Hour || o.interval%time.Second != 0:
		return &usageError{"-interval must be whole seconds from 1s to 1h"}
	case o.duration <= 0 || o.duration > maxMetricsDuration:
		return &usageError{fmt.Sprintf("-duration must be positive and at most %v", maxMetricsDuration)}
	case o.drain < 0 || o.drain > time.Hour:
		return &usageError{"-drain must be from 0 to 1h"}
	case o.adminPW == "":
		return &usageError{"HERALD_ADMIN_PASSWORD must hold the password of -admin"}
	}
	if o.drain == 0 {
		o.drain = 2*o.interval + 5*time.Second
	}
	for _, s := range strings.Split(o.src, ",") {
		if err := checkLoopback(strings.TrimSpace(s)); err != nil {
			return &usageError{"-src: " + err.Error()}
		}
	}
	return nil
}

// metricDef is one metric of a batch: its name and unit (VCD-COMPAT §9.2).
type metricDef struct{ name, unit string }

// mVApp and mVM are the provisioned inventory, by index; ids are bare UUIDs.
type mVApp struct {
	id, org string
	vms     []int
}

type mVM struct {
	id   string
	vapp int
}

// mBatch is one posted request: when it was sent and answered, and whether herald
// accepted it (204).
type mBatch struct {
	sentNs, ackNs int64
	ok            bool
}

// metricsRun is the state of one run, shared by the senders, the subscriber and the
// analysis.
type metricsRun struct {
	o       *metricsOptions
	vapps   []mVApp
	vms     []mVM
	defs    []metricDef
	vmIndex map[string]int
	vaIndex map[string]int

	// seqBatch[vm][k-1] is the index, in its sender's batches, of the VM's k-th
	// batch; written only by the VM's sender, read after the senders are done.
	seqBatch [][]uint32
	senders  []*mSender

	reqHist Histogram // POST to answer
}

// runMetrics provisions, drives and measures one run.
func (e env) runMetrics(ctx context.Context, o *metricsOptions) (*MetricsResult, error) {
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &usageError{"-url must be an http:// or https:// URL"}
	}
	if err := checkLoopback(u.Hostname()); err != nil {
		return nil, &usageError{"-url: " + err.Error()}
	}
	tlsCfg, err := clientTLS(u.Scheme, o.cacert, o.insecure)
	if err != nil {
		return nil, err
	}
	var srcs []string
	for _, s := range strings.Split(o.src, ",") {
		if s = strings.TrimSpace(s); s != "" {
			srcs = append(srcs, s)
		}
	}
	base := strings.TrimSuffix(o.url, "/")
	d, err := newDialer("ws"+strings.TrimPrefix(base, "http")+"/messaging/mqtt", srcs, tlsCfg)
	if err != nil {
		return nil, err
	}
	a := &api{base: base, clients: httpClients(srcs, tlsCfg), stderr: e.stderr}
	start := time.Now()
	tok, err := a.login(ctx, o.admin, o.adminPW)
	if err != nil {
		return nil, err
	}
	a.token = tok
	r := &metricsRun{o: o}
	for _, m := range notify.MetricDefs() {
		r.defs = append(r.defs, metricDef{m.Name, m.Unit})
	}
	if err := r.provision(ctx, a); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	fmt.Fprintf(e.stderr, "herald-bench: provisioned %d orgs × %d vApps × %d VMs in %v\n",
		o.orgs, o.vapps, o.vms, time.Since(start).Round(time.Millisecond))
	pid := e.findPid(o.pid, base)

	// Settings: publication every -interval, no simulator (its samples would mix with
	// ours); the previous settings are put back at the end.
	const settingsPath = "/cloudapi/herald/1.0.0/settings/metrics"
	var prev json.RawMessage
	if _, err := a.do(ctx, http.MethodGet, settingsPath, nil, "", a.token, [2]string{}, http.StatusOK, &prev); err != nil {
		return nil, err
	}
	body := fmt.Sprintf(`{"publishingEnabled":true,"intervalSeconds":%d,"simulator":{"enabled":false}}`, int(o.interval/time.Second))
	if _, err := a.do(ctx, http.MethodPut, settingsPath, []byte(body), "application/json", a.token, [2]string{}, http.StatusOK, nil); err != nil {
		return nil, err
	}
	defer func() {
		// The run's context may be cancelled: restoring is worth a few seconds more.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := a.do(rctx, http.MethodPut, settingsPath, prev, "application/json", a.token, [2]string{}, http.StatusOK, nil); err != nil {
			fmt.Fprintf(e.stderr, "herald-bench: restore metrics settings: %v\n", err)
		}
	}()

	// The subscriber: the system administrator on metrics/#, QoS 1.
	c, err := d.dial(ctx, connectOpts{bearer: a.token, clientID: "bench-metrics"})
	if err != nil {
		return nil, fmt.Errorf("subscriber: %w", err)
	}
	sub := &metricsSub{r: r, c: c, seen: make([]uint64, len(r.vms))}
	var wg sync.WaitGroup
	// Closing the connection ends the reader; wg waits for it.
	defer func() { c.close(); wg.Wait() }()
	if err := c.subscribe(ctx, "metrics/#", 1); err != nil {
		return nil, fmt.Errorf("subscriber: %w", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); sub.read() }()

	// The senders: VM i belongs to sender i mod -conns.
	r.seqBatch = make([][]uint32, len(r.vms))
	for i := range min(o.conns, len(r.vms)) {
		s := &mSender{r: r, url: base + "/cloudapi/herald/1.0.0/metrics/samples", token: a.token,
			client: senderClient(srcs[i%len(srcs)], tlsCfg)}
		for vm := i; vm < len(r.vms); vm += o.conns {
			s.vms = append(s.vms, vm)
		}
		s.batchVMs = min(o.batch, len(s.vms))
		s.rate = o.rate / float64(min(o.conns, len(r.vms)))
		r.senders = append(r.senders, s)
	}
	res := &MetricsResult{Scenario: "metrics", Target: "herald", VApps: len(r.vapps), VMs: len(r.vms),
		BatchSamples: min(o.batch, len(r.vms)) * len(r.defs), Conns: len(r.senders),
		IntervalSeconds: o.interval.Seconds(), OfferedRate: o.rate}
	before := sampleCPU(pid)
	driveStart := time.Now()
	var swg sync.WaitGroup
	for _, s := range r.senders {
		swg.Add(1)
		// Each sender returns after -duration or when ctx ends.
		go func() { defer swg.Done(); s.run(ctx, driveStart, o.duration) }()
	}
	swg.Wait()
	driveStop := time.Now()
	after := sampleCPU(pid)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.setCPU(before, after, pid)
	drainEnd := sub.drain(ctx, o.drain)
	r.analyze(res, sub, driveStart, driveStop, drainEnd)
	return res, nil
}

// clientTLS returns the TLS configuration for an https URL (nil for http).
func clientTLS(scheme, cacert string, insecure bool) (*tls.Config, error) {
	if scheme != "https" {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: insecure}
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return nil, fmt.Errorf("read -cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-cacert %s holds no PEM certificate", cacert)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// senderClient returns an HTTP/1.1 client that keeps one connection alive, from
// source address src.
func senderClient(src string, tlsCfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: sourceDialer(src, true).DialContext, TLSClientConfig: tlsCfg,
		MaxIdleConnsPerHost: 1, DisableCompression: true}}
}

// apiVApp is a vApp as the inventory API returns it.
type apiVApp struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Org  apiRef   `json:"org"`
	VMs  []apiRef `json:"vms"`
}

// provision creates (or reuses) orgs bench-org-N, each with vApps bench-vapp-M of at
// least -vms VMs, and fills r's inventory with the first -vms VMs of each.
func (r *metricsRun) provision(ctx context.Context, a *api) error {
	o := r.o
	orgs, err := listAll[apiRef](ctx, a, "/cloudapi/1.0.0/orgs")
	if err != nil {
		return err
	}
	orgIDs := map[string]string{}
	for _, x := range orgs {
		orgIDs[x.Name] = bareID(x.ID)
	}
	var orgList []string
	for i := range o.orgs {
		name := "bench-org-" + itoa(i)
		if orgIDs[name] == "" {
			var x apiRef
			body, _ := json.Marshal(map[string]string{"name": name, "displayName": name})
			if _, err := a.do(ctx, http.MethodPost, "/cloudapi/1.0.0/orgs", body, "application/json", a.token, [2]string{}, http.StatusCreated, &x); err != nil {
				return fmt.Errorf("create org: %w", err)
			}
			orgIDs[name] = bareID(x.ID)
		}
		orgList = append(orgList, orgIDs[name])
	}
	existing, err := listAll[apiVApp](ctx, a, "/cloudapi/herald/1.0.0/vApps")
	if err != nil {
		return err
	}
	byName := map[string]apiVApp{} // orgUUID/name → vApp
	for _, v := range existing {
		byName[bareID(v.Org.ID)+"/"+v.Name] = v
	}
	got := make([]apiVApp, o.orgs*o.vapps)
	err = parallel(ctx, o.workers, len(got), func(ctx context.Context, k int) error {
		org, name := orgList[k/o.vapps], "bench-vapp-"+itoa(k%o.vapps)
		v, ok := byName[org+"/"+name]
		if !ok {
			var b strings.Builder
			fmt.Fprintf(&b, `{"name":%q,"org":{"id":"urn:vcloud:org:%s"},"vms":[`, name, org)
			for j := range o.vms {
				if j > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"name":"vm-%d"}`, j)
			}
			b.WriteString("]}")
			if _, err := a.do(ctx, http.MethodPost, "/cloudapi/herald/1.0.0/vApps", []byte(b.String()), "application/json",
				a.token, [2]string{}, http.StatusCreated, &v); err != nil {
				return fmt.Errorf("create vApp: %w", err)
			}
		}
		for j := len(v.VMs); j < o.vms; j++ {
			body := fmt.Sprintf(`{"name":"vm-%d"}`, j)
			if _, err := a.do(ctx, http.MethodPost, "/cloudapi/herald/1.0.0/vApps/"+v.ID+"/vms", []byte(body), "application/json",
				a.token, [2]string{}, http.StatusCreated, &v); err != nil {
				return fmt.Errorf("add VM: %w", err)
			}
		}
		got[k] = v
		return nil
	})
	if err != nil {
		return err
	}
	r.vmIndex, r.vaIndex = map[string]int{}, map[string]int{}
	for i, v := range got {
		va := mVApp{id: bareID(v.ID), org: bareID(v.Org.ID)}
		r.vaIndex[va.id] = i
		for _, vm := range v.VMs[:o.vms] {
			r.vmIndex[bareID(vm.ID)] = len(r.vms)
			va.vms = append(va.vms, len(r.vms))
			r.vms = append(r.vms, mVM{id: bareID(vm.ID), vapp: i})
		}
		r.vapps = append(r.vapps, va)
	}
	return nil
}

// mSender posts batches for its VMs over one keep-alive connection.
type mSender struct {
	r        *metricsRun
	client   *http.Client
	url      string
	token    string
	vms      []int // global VM indexes
	batchVMs int
	rate     float64 // samples per second; 0: as fast as answers come

	batches []mBatch // read after run returns
	next    int      // cursor into vms
	body    []byte

	sent, accepted, rejected, errs atomic.Int64 // samples; errs counts requests
	firstErr                       atomic.Pointer[string]
}

// run posts batches from start for dur (or until ctx ends), paced at s.rate.
func (s *mSender) run(ctx context.Context, start time.Time, dur time.Duration) {
	deadline := start.Add(dur)
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(deadline) {
			return
		}
		if s.rate > 0 {
			due := s.rate * now.Sub(start).Seconds() // samples due by now
			if sent := float64(s.sent.Load()); sent > due {
				wait := time.Duration((sent - due) / s.rate * float64(time.Second))
				t := time.NewTimer(min(wait, deadline.Sub(now)))
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
				continue
			}
		}
		s.post(ctx)
	}
}

// post sends one batch of the next s.batchVMs VMs and records its answer.
func (s *mSender) post(ctx context.Context) {
	r := s.r
	now := time.Now()
	bi := uint32(len(s.batches))
	b := append(s.body[:0], `{"samples":[`...)
	ts := now.UTC().AppendFormat(nil, time.RFC3339Nano)
	for k := range s.batchVMs {
		vm := s.vms[s.next]
		s.next = (s.next + 1) % len(s.vms)
		r.seqBatch[vm] = append(r.seqBatch[vm], bi)
		seq := len(r.seqBatch[vm])
		for j, m := range r.defs {
			if k > 0 || j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"vm":"urn:vcloud:vm:`...)
			b = append(b, r.vms[vm].id...)
			b = append(b, `","name":"`...)
			b = append(b, m.name...)
			b = append(b, `","unit":"`...)
			b = append(b, m.unit...)
			b = append(b, `","value":`...)
			b = strconv.AppendInt(b, int64(seq), 10)
			b = append(b, `,"timestamp":"`...)
			b = append(b, ts...)
			b = append(b, `"}`...)
		}
	}
	b = append(b, "]}"...)
	s.body = b
	n := int64(s.batchVMs * len(r.defs))
	s.sent.Add(n)
	batch := mBatch{sentNs: now.UnixNano()}
	status, msg, err := s.do(ctx, b)
	batch.ackNs = time.Now().UnixNano()
	r.reqHist.Record(time.Duration(batch.ackNs - batch.sentNs))
	switch {
	case err != nil:
		s.errs.Add(1)
		s.rejected.Add(n)
		msg = err.Error()
	case status == http.StatusNoContent:
		batch.ok = true
		s.accepted.Add(n)
	default:
		s.rejected.Add(n)
		msg = fmt.Sprintf("status %d: %s", status, msg)
	}
	if !batch.ok {
		s.firstErr.CompareAndSwap(nil, &msg)
	}
	s.batches = append(s.batches, batch)
}

// do posts body and returns the status and, for an error, the start of the answer.
func (s *mSender) do(ctx context.Context, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	// The whole answer is read so that the connection is kept alive.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, truncate(b, 200), nil
}
