package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
)

// MetricsResult is the outcome of a metrics run: one line of the table and, with
// -json, one JSON object.
type MetricsResult struct {
	Scenario        string  `json:"scenario"`
	Target          string  `json:"target"`
	VApps           int     `json:"vapps"`
	VMs             int     `json:"vms"`
	BatchSamples    int     `json:"batch_samples"`
	Conns           int     `json:"conns"`
	IntervalSeconds float64 `json:"interval_s"`
	// OfferedRate is the requested samples per second; 0 means as fast as the
	// senders go.
	OfferedRate float64 `json:"offered_rate"`
	// Seconds is the time samples were posted: from the first request to the end of
	// -duration, or to the last answer if that came later.
	Seconds float64 `json:"seconds"`
	// Sent counts the samples of every request made; Accepted those answered 204,
	// Rejected the others (Errors counts requests that got no answer at all).
	Sent         int64   `json:"sent"`
	Accepted     int64   `json:"accepted"`
	Rejected     int64   `json:"rejected"`
	Errors       int64   `json:"errors"`
	SentRate     float64 `json:"sent_rate"`
	AcceptedRate float64 `json:"accepted_rate"`
	Requests     int64   `json:"requests"`
	// Request round trip (POST to answer) in milliseconds.
	ReqP50 float64 `json:"req_p50_ms"`
	ReqP99 float64 `json:"req_p99_ms"`
	// Envelopes: received (one per vApp and interval end, counted once), expected
	// (received + missed), the ideal one per vApp per interval of the run, and the
	// anomalies described in metrics.go.
	Intervals         int     `json:"intervals"`
	EnvelopesReceived int64   `json:"envelopes"`
	EnvelopesExpected int64   `json:"envelopes_expected"`
	EnvelopesIdeal    int64   `json:"envelopes_ideal"`
	EnvelopesPerSec   float64 `json:"envelopes_per_sec"`
	ExpectedPerSec    float64 `json:"expected_per_sec"`
	Missed            int64   `json:"missed"`
	Duplicates        int64   `json:"duplicates"`
	Repeated          int64   `json:"repeated"`
	Stale             int64   `json:"stale"`
	Misrouted         int64   `json:"misrouted"`
	Other             int64   `json:"other"`
	Unreflected       int64   `json:"unreflected"`
	EnvelopeBytes     float64 `json:"envelope_bytes"`
	// Latency in milliseconds: envelope receipt minus the send time of the newest
	// batch it reflects (P50…Max), and minus its interval end (Delay…).
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	DelayP50 float64 `json:"delay_p50_ms"`
	DelayP99 float64 `json:"delay_p99_ms"`
	DelayMax float64 `json:"delay_max_ms"`
	// CPU while posting, in cores (CPU seconds per second): the server, this tool,
	// and everything else on the machine; Load1 is the load average at the end.
	ServerCPU float64 `json:"server_cpu"`
	ToolCPU   float64 `json:"tool_cpu"`
	OtherCPU  float64 `json:"other_cpu"`
	Load1     float64 `json:"load1"`
	ServerRSS int64   `json:"server_rss"`
	Note      string  `json:"note,omitempty"`
}

// envRec is one received METRICS envelope: its vApp, interval end, receipt time and
// the value (batch number) of each VM it carries.
type envRec struct {
	vapp      int
	end, recv int64 // Unix ns
	vms       []int
	vals      []uint64
}

// maxEnvValues bounds the VM values the subscriber keeps (8 bytes each, plus 8 for the
// VM index).
const maxEnvValues = 50_000_000

// metricsSub is the system administrator's metrics/# subscriber.
type metricsSub struct {
	r *metricsRun
	c *conn

	mu       sync.Mutex
	envs     []envRec
	values   int
	seen     []uint64 // per VM, the highest value received
	bytes    int64
	other    int64 // envelopes of vApps or runs that are not this one's
	bad      int64 // envelopes that do not match the inventory
	firstBad string
	progress time.Time // last envelope of this run
}

// metricsPayload is the inner JSON of a METRICS envelope (VCD-COMPAT §9.3).
type metricsPayload struct {
	VApp      string      `json:"vApp"`
	Org       string      `json:"org"`
	Timestamp string      `json:"timestamp"`
	VMs       []metricsVM `json:"vms"`
}

// metricsVM is one VM of a METRICS payload; the check needs only the values.
type metricsVM struct {
	ID      string         `json:"id"`
	Metrics []metricsValue `json:"metrics"`
}

type metricsValue struct {
	Value float64 `json:"value"`
}

// read receives envelopes until the connection closes, acknowledging them in
// batches (one write per drained read buffer).
func (s *metricsSub) read() {
	s.c.receive(func(p *mqtt.Publish, now int64) { s.record(p.Topic, p.Payload, now) })
}

// record decodes and checks one envelope received at now.
func (s *metricsSub) record(topic string, payload []byte, now int64) {
	bad := func(format string, args ...any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.bad++
		if s.firstBad == "" {
			s.firstBad = fmt.Sprintf(format, args...)
		}
	}
	// The tool shares the machine with the server: herald's own layout of the
	// envelope is read by scanMetrics without encoding/json, at a fraction of its
	// cost; anything else is decoded in full.
	p, ok := scanMetrics(payload)
	if !ok {
		var env struct {
			Type    string `json:"type"`
			Payload string `json:"payload"`
		}
		if err := json.Unmarshal(payload, &env); err != nil || env.Type != "METRICS" {
			bad("not a METRICS envelope on %s", topic)
			return
		}
		if err := json.Unmarshal([]byte(env.Payload), &p); err != nil {
			bad("undecodable METRICS payload on %s: %v", topic, err)
			return
		}
	}
	end, err := time.Parse(time.RFC3339, p.Timestamp)
	if err != nil {
		bad("bad METRICS timestamp %q", p.Timestamp)
		return
	}
	r := s.r
	vi, ok := r.vaIndex[bareID(p.VApp)]
	if !ok {
		s.mu.Lock()
		s.other++
		s.mu.Unlock()
		return
	}
	va := &r.vapps[vi]
	if topic != "metrics/"+va.org+"/"+va.id || bareID(p.Org) != va.org {
		bad("vApp %s on topic %s, org %s", va.id, topic, p.Org)
		return
	}
	rec := envRec{vapp: vi, end: end.UnixNano(), recv: now}
	for _, vm := range p.VMs {
		k, ok := r.vmIndex[bareID(vm.ID)]
		if !ok || r.vms[k].vapp != vi {
			bad("VM %s in the METRICS of vApp %s", vm.ID, va.id)
			return
		}
		if len(vm.Metrics) != len(r.defs) {
			bad("VM %s has %d metrics, want %d", vm.ID, len(vm.Metrics), len(r.defs))
			return
		}
		v := vm.Metrics[0].Value
		for _, m := range vm.Metrics {
			if m.Value != v {
				bad("VM %s: metrics of different batches (%v, %v)", vm.ID, v, m.Value)
				return
			}
		}
		if v < 1 || v != float64(uint64(v)) {
			bad("VM %s: value %v is not a batch number", vm.ID, v)
			return
		}
		rec.vms = append(rec.vms, k)
		rec.vals = append(rec.vals, uint64(v))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes += int64(len(payload))
	if s.values+len(rec.vms) > maxEnvValues {
		s.other++
		return
	}
	s.values += len(rec.vms)
	s.envs = append(s.envs, rec)
	for i, k := range rec.vms {
		s.seen[k] = max(s.seen[k], rec.vals[i])
	}
	s.progress = time.Now()
}

// scanMetrics reads a METRICS envelope in the exact layout herald writes
// (notify.AppendMetrics: no whitespace, keys in a fixed order, the payload a JSON
// string whose quotes are escaped); it reports false for anything else.
func scanMetrics(b []byte) (metricsPayload, bool) {
	var p metricsPayload
	if !bytes.HasPrefix(b, []byte(`{"type":"METRICS",`)) {
		return p, false
	}
	i := bytes.Index(b, []byte(`"payload":"{\"vApp\":\"`))
	if i < 0 {
		return p, false
	}
	rest := b[i+len(`"payload":"{\"vApp\":\"`):]
	// field returns the escaped string value that starts rest, up to its \".
	field := func() (string, bool) {
		j := bytes.Index(rest, []byte(`\"`))
		if j < 0 {
			return "", false
		}
		v := string(rest[:j])
		rest = rest[j+2:]
		return v, true
	}
	// expect consumes the literal lit.
	expect := func(lit string) bool {
		if !bytes.HasPrefix(rest, []byte(lit)) {
			return false
		}
		rest = rest[len(lit):]
		return true
	}
	var ok bool
	if p.VApp, ok = field(); !ok || !expect(`,\"org\":\"`) {
		return p, false
	}
	if p.Org, ok = field(); !ok || !expect(`,\"timestamp\":\"`) {
		return p, false
	}
	if p.Timestamp, ok = field(); !ok || !expect(`,\"vms\":[`) {
		return p, false
	}
	for !expect(`]}"}`) {
		if len(p.VMs) > 0 && !expect(",") {
			return p, false
		}
		if !expect(`{\"id\":\"`) {
			return p, false
		}
		p.VMs = append(p.VMs, metricsVM{})
		cur := &p.VMs[len(p.VMs)-1]
		if cur.ID, ok = field(); !ok {
			return p, false
		}
		// The metrics: only the values are needed; a VM's list ends at "]}".
		end := bytes.Index(rest, []byte("]}"))
		if end < 0 {
			return p, false
		}
		list := rest[:end]
		rest = rest[end+2:]
		for {
			k := bytes.Index(list, []byte(`\"value\":`))
			if k < 0 {
				break
			}
			list = list[k+len(`\"value\":`):]
			n := bytes.IndexByte(list, ',')
			if n < 0 {
				return p, false
			}
			v, err := strconv.ParseFloat(string(list[:n]), 64)
			if err != nil {
				return p, false
			}
			cur.Metrics = append(cur.Metrics, metricsValue{Value: v})
			list = list[n:]
		}
	}
	return p, len(rest) == 0
}

// drain waits until every VM's last accepted batch has been received, or until no
// envelope came for wait, or ctx ends; it returns when it stopped.
func (s *metricsSub) drain(ctx context.Context, wait time.Duration) time.Time {
	r := s.r
	final := make([]uint64, len(r.vms))
	for vm := range r.vms {
		final[vm] = r.lastAccepted(vm, 1<<62)
	}
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		done := true
		for vm, f := range final {
			if s.seen[vm] < f {
				done = false
				break
			}
		}
		last := s.progress
		s.mu.Unlock()
		if last.Before(start) {
			last = start
		}
		now := time.Now()
		if done || now.Sub(last) > wait {
			return now
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return time.Now()
		}
	}
}

// batchOf returns VM vm's batch number seq (from 1).
func (r *metricsRun) batchOf(vm int, seq uint64) (mBatch, bool) {
	bs := r.seqBatch[vm]
	if seq < 1 || seq > uint64(len(bs)) {
		return mBatch{}, false
	}
	return r.senders[vm%len(r.senders)].batches[bs[seq-1]], true
}

// lastAccepted returns the highest batch number of VM vm that was acknowledged
// (204) before t (Unix ns), or 0. A sender's answers come in order, so the
// acknowledgement times rise with the batch number.
func (r *metricsRun) lastAccepted(vm int, t int64) uint64 {
	bs := r.seqBatch[vm]
	sb := r.senders[vm%len(r.senders)].batches
	n := sort.Search(len(bs), func(i int) bool { return sb[bs[i]].ackNs >= t })
	for i := n - 1; i >= 0; i-- {
		if sb[bs[i]].ok {
			return uint64(i + 1)
		}
	}
	return 0
}

// analyze fills res from the senders' records and the envelopes received, once the
// senders are done and the subscriber has drained.
func (r *metricsRun) analyze(res *MetricsResult, sub *metricsSub, driveStart, driveStop, drainEnd time.Time) {
	var first, last int64 = 1<<63 - 1, 0
	var firstErr string
	for _, s := range r.senders {
		res.Sent += s.sent.Load()
		res.Accepted += s.accepted.Load()
		res.Rejected += s.rejected.Load()
		res.Errors += s.errs.Load()
		res.Requests += int64(len(s.batches))
		if len(s.batches) > 0 {
			first, last = min(first, s.batches[0].sentNs), max(last, s.batches[len(s.batches)-1].ackNs)
		}
		if p := s.firstErr.Load(); p != nil && firstErr == "" {
			firstErr = *p
		}
	}
	if last > first {
		// From the first request to the end of the drive or the last answer, if later.
		res.Seconds = float64(max(last, driveStop.UnixNano())-first) / 1e9
		res.SentRate = float64(res.Sent) / res.Seconds
		res.AcceptedRate = float64(res.Accepted) / res.Seconds
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.ReqP50, res.ReqP99 = ms(r.reqHist.Quantile(0.5)), ms(r.reqHist.Quantile(0.99))

	sub.mu.Lock()
	envs := sub.envs
	res.Other, res.Misrouted = sub.other, sub.bad
	if sub.firstBad != "" {
		firstErr = strings.TrimSpace(firstErr + "; first misrouted: " + sub.firstBad)
	}
	envBytes := sub.bytes
	seen := slices.Clone(sub.seen)
	sub.mu.Unlock()

	iv := r.o.interval.Nanoseconds()
	// Interval ends of the run: the first after the first request, to the one that
	// closes the interval of the last answer.
	firstEnd := (driveStart.UnixNano()/iv + 1) * iv
	lastEnd := (driveStop.UnixNano()/iv + 1) * iv
	res.Intervals = int((lastEnd-firstEnd)/iv) + 1
	res.EnvelopesIdeal = int64(res.Intervals) * int64(len(r.vapps))

	var lat, delay Histogram
	byVApp := make([][]envRec, len(r.vapps))
	for _, e := range envs {
		if e.end < firstEnd {
			res.Other++ // an interval before this run's samples
			continue
		}
		byVApp[e.vapp] = append(byVApp[e.vapp], e)
	}
	// Only interval ends that were due at least one interval before the drain ended
	// can be missed.
	horizon := drainEnd.UnixNano() - iv
	for vi, list := range byVApp {
		sort.SliceStable(list, func(i, j int) bool { return list[i].end < list[j].end })
		covered := map[int]uint64{}
		va := &r.vapps[vi]
		// needed reports whether a batch acknowledged before end is not covered yet.
		needed := func(end int64) bool {
			for _, vm := range va.vms {
				if r.lastAccepted(vm, end) > covered[vm] {
					return true
				}
			}
			return false
		}
		next := firstEnd // the next interval end not yet accounted for
		for i, e := range list {
			if i > 0 && e.end == list[i-1].end {
				res.Duplicates++
				continue
			}
			for ; next < e.end && next <= horizon; next += iv {
				if needed(next) {
					res.Missed++
				}
			}
			next = e.end + iv
			res.EnvelopesReceived++
			fresh := false
			var newest int64
			for j, vm := range e.vms {
				v := e.vals[j]
				if v > covered[vm] {
					fresh = true
					covered[vm] = v
				}
				if b, ok := r.batchOf(vm, v); ok {
					newest = max(newest, b.sentNs)
				}
			}
			if !fresh {
				res.Repeated++
			}
			// Every batch acknowledged before the interval end was stored before
			// the publication of that interval began.
			if needed(e.end) {
				res.Stale++
			}
			// After the last request, the last interval's envelope waits for the
			// interval's end with nothing newer to carry: that wait is the end of
			// the run, not publication, and is left out.
			if newest > 0 && e.end <= driveStop.UnixNano() {
				lat.Record(time.Duration(e.recv - newest))
			}
			delay.Record(time.Duration(e.recv - e.end))
		}
		for ; next <= horizon; next += iv {
			if needed(next) {
				res.Missed++
			}
		}
	}
	res.EnvelopesExpected = res.EnvelopesReceived + res.Missed
	if res.Intervals > 0 {
		span := float64(res.Intervals) * r.o.interval.Seconds()
		res.EnvelopesPerSec = float64(res.EnvelopesReceived) / span
		res.ExpectedPerSec = float64(res.EnvelopesExpected) / span
	}
	if n := len(envs); n > 0 {
		res.EnvelopeBytes = float64(envBytes) / float64(n)
	}
	for vm := range r.vms {
		if f := r.lastAccepted(vm, 1<<62); seen[vm] < f {
			// Every accepted batch after the last one received.
			for seq := seen[vm] + 1; seq <= f; seq++ {
				if b, _ := r.batchOf(vm, seq); b.ok {
					res.Unreflected += int64(len(r.defs))
				}
			}
		}
	}
	res.P50, res.P90, res.P99, res.Max = ms(lat.Quantile(0.5)), ms(lat.Quantile(0.9)), ms(lat.Quantile(0.99)), ms(lat.Max())
	res.DelayP50, res.DelayP99, res.DelayMax = ms(delay.Quantile(0.5)), ms(delay.Quantile(0.99)), ms(delay.Max())
	if firstErr != "" {
		res.Note = "first error: " + firstErr
	}
}

// cpuSample is the CPU time used so far by the server, this process and the whole
// machine, in clock ticks (USER_HZ, 100 on Linux), at a wall-clock time.
type cpuSample struct {
	at                   time.Time
	server, self         int64
	machineBusy, machine int64
	ok                   bool
}

// clockTicks is USER_HZ, the unit of /proc's CPU times; Linux fixes it at 100 for
// user space.
const clockTicks = 100

// sampleCPU reads the CPU times; a server pid of 0 leaves its time unknown.
func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now()}
	if pid != 0 {
		if t, err := procCPU(pid); err == nil {
			s.server, s.ok = t, true
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		us := ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
		s.self = us * clockTicks / 1e6
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		for i, x := range f[1:] {
			v, _ := strconv.ParseInt(x, 10, 64)
			if i >= 8 { // guest time is already counted in user time
				break
			}
			s.machine += v
			if i != 3 && i != 4 { // idle, iowait
				s.machineBusy += v
			}
		}
	}
	return s
}

// procCPU returns the user + system CPU time of process pid, in clock ticks.
func procCPU(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read process stat: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return ut + st, nil
}

// setCPU fills the CPU and memory figures from two samples around the drive.
func (res *MetricsResult) setCPU(a, b cpuSample, pid int) {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return
	}
	cores := func(ticks int64) float64 { return float64(ticks) / clockTicks / secs }
	if pid != os.Getpid() { // else the server runs in this process (tests): all is its
		res.ToolCPU = cores(b.self - a.self)
	}
	if a.ok && b.ok {
		res.ServerCPU = cores(b.server - a.server)
	}
	if b.machine > a.machine {
		ncpu := float64(b.machine-a.machine) / clockTicks / secs // ≈ number of CPUs
		busy := float64(b.machineBusy-a.machineBusy) / float64(b.machine-a.machine) * ncpu
		res.OtherCPU = max(0, busy-res.ServerCPU-res.ToolCPU)
	}
	if pid != 0 {
		res.ServerRSS, _ = rss(pid)
	}
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(l)); len(f) > 0 {
			res.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
}

// writeTable prints the result as an aligned two-line table and its note.
func (res *MetricsResult) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	cols := []struct{ name, val string }{
		{"vms", strconv.Itoa(res.VMs)},
		{"interval", num(res.IntervalSeconds) + "s"},
		{"offered/s", rate(res.OfferedRate)},
		{"accepted/s", num(res.AcceptedRate)},
		{"rejected", i64(res.Rejected)},
		{"req_p99ms", num(res.ReqP99)},
		{"env/s", num(res.EnvelopesPerSec)},
		{"expected/s", num(res.ExpectedPerSec)},
		{"missed", i64(res.Missed)},
		{"unreflected", i64(res.Unreflected)},
		{"p50ms", num(res.P50)},
		{"p90ms", num(res.P90)},
		{"p99ms", num(res.P99)},
		{"maxms", num(res.Max)},
		{"delay_p99ms", num(res.DelayP99)},
		{"server_cpu", num(res.ServerCPU)},
		{"tool_cpu", num(res.ToolCPU)},
		{"other_cpu", num(res.OtherCPU)},
		{"rss_MiB", num(float64(res.ServerRSS) / (1 << 20))},
	}
	var names, vals []string
	for _, c := range cols {
		names, vals = append(names, c.name), append(vals, c.val)
	}
	fmt.Fprintln(tw, strings.Join(names, "\t")+"\t")
	fmt.Fprintln(tw, strings.Join(vals, "\t")+"\t")
	tw.Flush()
	if res.Duplicates+res.Repeated+res.Stale+res.Misrouted > 0 {
		fmt.Fprintf(w, "anomalies: %d duplicate, %d repeated, %d stale, %d misrouted envelopes\n",
			res.Duplicates, res.Repeated, res.Stale, res.Misrouted)
	}
	if res.Note != "" {
		fmt.Fprintf(w, "note: %s\n", res.Note)
	}
}
