// Package telemetry is a small metrics registry that writes the Prometheus text
// exposition format 0.0.4, with the standard library only.
//
// A Registry holds metric families: counters, gauges and histograms, each plain or
// with labels, and collectors that read their values at scrape time (from a
// component's own counters, such as the broker's Stats). Updating a metric is one or
// a few atomic operations and never allocates; looking up a labelled child with With
// allocates only the first time a label set is seen, so hot paths keep the child.
//
// Registration happens while the program wires itself up: an invalid or repeated
// name, or a wrong number of label values, is a programmer error and panics.
//
// The output is deterministic: families sorted by name, children by label values.
package telemetry

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ContentType is the media type of the text exposition format 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric types as the # TYPE line names them.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
)

// DurationBuckets are upper bounds in seconds suited to latencies from half a
// millisecond to ten seconds.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Registry is a set of metric families. The zero value is not usable; use
// NewRegistry. It is safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

// family is one metric name with its HELP, TYPE and children.
type family struct {
	name, help, typ string
	labels          []string
	buckets         []float64 // histograms only

	mu       sync.RWMutex
	children map[string]*child // by joined label values
	collect  func(emit func(value float64, labelValues ...string))
}

// child is one label set of a family; exactly one of g, h is set. A counter is the
// Counter inside g, which has the same representation.
type child struct {
	values []string
	g      *Gauge
	h      *Histogram
}

func (r *Registry) register(name, help, typ string, labels []string, buckets []float64) *family {
	if !validName(name, true) {
		panic(fmt.Sprintf("telemetry: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") || (typ == typeHistogram && l == "le") {
			panic(fmt.Sprintf("telemetry: invalid label name %q for %s", l, name))
		}
	}
	if typ == typeHistogram {
		if len(buckets) == 0 || !slices.IsSorted(buckets) || slices.Contains(buckets, math.Inf(1)) {
			panic(fmt.Sprintf("telemetry: histogram %s needs sorted finite buckets", name))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[name]; dup {
		panic(fmt.Sprintf("telemetry: metric %s registered twice", name))
	}
	f := &family{name: name, help: help, typ: typ, labels: slices.Clone(labels),
		buckets: slices.Clone(buckets), children: map[string]*child{}}
	r.families[name] = f
	return f
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, without
// colons, a label name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9') || (colon && c == ':')
		if !ok {
			return false
		}
	}
	return true
}

// with returns the child for values, creating it with mk the first time.
func (f *family) with(values []string, mk func() *child) *child {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("telemetry: %s has %d labels, got %d values", f.name, len(f.labels), len(values)))
	}
	// The key is built in a stack buffer; a map lookup with string(buf) does not
	// allocate, so a hit costs no allocation.
	var arr [128]byte
	key := joinKey(arr[:0], values)
	f.mu.RLock()
	c := f.children[string(key)]
	f.mu.RUnlock()
	if c != nil {
		return c
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c = f.children[string(key)]; c == nil {
		c = mk()
		c.values = slices.Clone(values)
		f.children[string(key)] = c
	}
	return c
}

// joinKey joins values with a byte that cannot occur in UTF-8 text.
func joinKey(b []byte, values []string) []byte {
	for i, v := range values {
		if i > 0 {
			b = append(b, 0xff)
		}
		b = append(b, v...)
	}
	return b
}

// Counter is a value that only goes up. Gauges share the type (see Gauge).
type Counter struct{ bits atomic.Uint64 }

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Add adds v, which must not be negative for a counter.
func (c *Counter) Add(v float64) {
	for {
		old := c.bits.Load()
		if c.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Value returns the current value.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

// Gauge is a value that goes up and down.
type Gauge struct{ Counter }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Dec subtracts 1.
func (g *Gauge) Dec() { g.Add(-1) }

// Histogram counts observations in fixed buckets and keeps their sum.
type Histogram struct {
	upper  []float64       // bucket upper bounds, ascending; +Inf is implicit
	counts []atomic.Uint64 // per bucket, not cumulative; the last one is +Inf
	count  atomic.Uint64
	sum    Counter
}

func newHistogram(buckets []float64) *Histogram {
	return &Histogram{upper: buckets, counts: make([]atomic.Uint64, len(buckets)+1)}
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.upper, v) // first bound >= v: buckets are "le"
	h.counts[i].Add(1)
	h.sum.Add(v)
	h.count.Add(1)
}

// Counter registers a counter without labels.
func (r *Registry) Counter(name, help string) *Counter {
	return r.CounterVec(name, help).With()
}

// Gauge registers a gauge without labels.
func (r *Registry) Gauge(name, help string) *Gauge {
	return r.GaugeVec(name, help).With()
}

// Histogram registers a histogram without labels, with the given bucket upper bounds.
func (r *Registry) Histogram(name, help string, buckets []float64) *Histogram {
	return r.HistogramVec(name, help, buckets).With()
}

// CounterVec is a counter family with labels.
type CounterVec struct{ f *family }

// CounterVec registers a counter family with the given label names.
func (r *Registry) CounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{r.register(name, help, typeCounter, labels, nil)}
}

// With returns the counter for the label values, in the order of the label names.
func (v *CounterVec) With(values ...string) *Counter {
	return &v.f.with(values, newValueChild).g.Counter
}

func newValueChild() *child { return &child{g: new(Gauge)} }

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ f *family }

// GaugeVec registers a gauge family with the given label names.
func (r *Registry) GaugeVec(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{r.register(name, help, typeGauge, labels, nil)}
}

// With returns the gauge for the label values, in the order of the label names.
func (v *GaugeVec) With(values ...string) *Gauge {
	return v.f.with(values, newValueChild).g
}

// HistogramVec is a histogram family with labels.
type HistogramVec struct{ f *family }

// HistogramVec registers a histogram family with the given buckets and label names.
func (r *Registry) HistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	return &HistogramVec{r.register(name, help, typeHistogram, labels, buckets)}
}

// With returns the histogram for the label values, in the order of the label names.
func (v *HistogramVec) With(values ...string) *Histogram {
	f := v.f
	return f.with(values, func() *child { return &child{h: newHistogram(f.buckets)} }).h
}

// CounterFunc registers a counter family whose samples collect emits at each scrape,
// one call of emit per label set (label values in the order of labels). collect runs
// on the scraping goroutine and must not block for long.
func (r *Registry) CounterFunc(name, help string, labels []string, collect func(emit func(value float64, labelValues ...string))) {
	r.register(name, help, typeCounter, labels, nil).collect = collect
}

// GaugeFunc is CounterFunc for a gauge family.
func (r *Registry) GaugeFunc(name, help string, labels []string, collect func(emit func(value float64, labelValues ...string))) {
	r.register(name, help, typeGauge, labels, nil).collect = collect
}

// Handler returns an HTTP handler that writes every family in the text format 0.0.4.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		r.WriteText(&buf)
		w.Header().Set("Content-Type", ContentType)
		_, _ = w.Write(buf.Bytes())
	})
}

// sample is one collected line before sorting.
type sample struct {
	values []string
	value  float64
}

// WriteText writes every family in the text format 0.0.4 to buf. Families without
// samples are left out.
func (r *Registry) WriteText(buf *bytes.Buffer) {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	for _, f := range fams {
		f.write(buf)
	}
}

func (f *family) write(buf *bytes.Buffer) {
	var samples []sample
	var hists []*child
	if f.collect != nil {
		f.collect(func(v float64, values ...string) {
			if len(values) != len(f.labels) {
				panic(fmt.Sprintf("telemetry: %s has %d labels, collector gave %d values", f.name, len(f.labels), len(values)))
			}
			samples = append(samples, sample{slices.Clone(values), v})
		})
	} else {
		f.mu.RLock()
		for _, c := range f.children {
			if c.h != nil {
				hists = append(hists, c)
			} else {
				samples = append(samples, sample{c.values, c.g.Value()})
			}
		}
		f.mu.RUnlock()
	}
	if len(samples) == 0 && len(hists) == 0 {
		return
	}
	fmt.Fprintf(buf, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
	slices.SortFunc(samples, func(a, b sample) int { return slices.Compare(a.values, b.values) })
	for _, s := range samples {
		writeLine(buf, f.name, f.labels, s.values, "", "", s.value)
	}
	slices.SortFunc(hists, func(a, b *child) int { return slices.Compare(a.values, b.values) })
	for _, c := range hists {
		h := c.h
		// Read the buckets first and the count last, and derive +Inf from the
		// buckets, so that a scrape racing an Observe stays self-consistent.
		var cum uint64
		for i, le := range h.upper {
			cum += h.counts[i].Load()
			writeLine(buf, f.name+"_bucket", f.labels, c.values, "le", formatFloat(le), float64(cum))
		}
		cum += h.counts[len(h.upper)].Load()
		writeLine(buf, f.name+"_bucket", f.labels, c.values, "le", "+Inf", float64(cum))
		writeLine(buf, f.name+"_sum", f.labels, c.values, "", "", h.sum.Value())
		writeLine(buf, f.name+"_count", f.labels, c.values, "", "", float64(cum))
	}
}

// writeLine writes `name{l1="v1",…,extra="extraValue"} value`.
func writeLine(buf *bytes.Buffer, name string, labels, values []string, extra, extraValue string, v float64) {
	buf.WriteString(name)
	if len(labels) > 0 || extra != "" {
		buf.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeLabel(buf, l, values[i])
		}
		if extra != "" {
			if len(labels) > 0 {
				buf.WriteByte(',')
			}
			writeLabel(buf, extra, extraValue)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(' ')
	buf.WriteString(formatFloat(v))
	buf.WriteByte('\n')
}

func writeLabel(buf *bytes.Buffer, name, value string) {
	buf.WriteString(name)
	buf.WriteString(`="`)
	buf.WriteString(EscapeLabelValue(value))
	buf.WriteByte('"')
}

// EscapeLabelValue escapes a label value as the text format requires: backslash,
// double quote and line feed become \\, \" and \n. Other bytes, including invalid
// UTF-8, pass unchanged.
func EscapeLabelValue(s string) string {
	return labelEscaper.Replace(s)
}

// escapeHelp escapes HELP text: backslash and line feed (a quote stays as it is).
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// formatFloat writes v as the text format expects: the shortest representation that
// round-trips, and +Inf, -Inf, NaN.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
