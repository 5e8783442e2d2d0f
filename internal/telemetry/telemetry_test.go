package telemetry_test

import (
	"bytes"
	"io"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/telemetry"
)

func text(r *telemetry.Registry) string {
	var b bytes.Buffer
	r.WriteText(&b)
	return b.String()
}

func TestWriteText(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *telemetry.Registry)
		want  string
	}{
		{"Empty", func(r *telemetry.Registry) {}, ""},
		{"UnusedVecIsLeftOut", func(r *telemetry.Registry) { r.CounterVec("x_total", "X.", "a") }, ""},
		{"Counter", func(r *telemetry.Registry) {
			c := r.Counter("app_requests_total", "Requests served.")
			c.Inc()
			c.Add(2)
		}, "# HELP app_requests_total Requests served.\n# TYPE app_requests_total counter\napp_requests_total 3\n"},
		{"Gauge", func(r *telemetry.Registry) {
			g := r.Gauge("app_open", "Open things.")
			g.Set(5)
			g.Dec()
			g.Add(0.5)
		}, "# HELP app_open Open things.\n# TYPE app_open gauge\napp_open 4.5\n"},
		{"FamiliesByNameChildrenByValues", func(r *telemetry.Registry) {
			v := r.CounterVec("b_total", "B.", "method", "code")
			v.With("POST", "200").Inc()
			v.With("GET", "404").Add(2)
			v.With("GET", "200").Add(3)
			r.Gauge("a", "A.").Set(-1)
		}, `# HELP a A.
# TYPE a gauge
a -1
# HELP b_total B.
# TYPE b_total counter
b_total{method="GET",code="200"} 3
b_total{method="GET",code="404"} 2
b_total{method="POST",code="200"} 1
`},
		{"Histogram", func(r *telemetry.Registry) {
			h := r.HistogramVec("lat_seconds", "Latency.", []float64{0.1, 1, 10}, "op")
			for _, v := range []float64{0.05, 0.1, 0.5, 20} { // 0.1 is in le="0.1": bounds are inclusive
				h.With("read").Observe(v)
			}
			h.With("write").Observe(1e6)
		}, `# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{op="read",le="0.1"} 2
lat_seconds_bucket{op="read",le="1"} 3
lat_seconds_bucket{op="read",le="10"} 3
lat_seconds_bucket{op="read",le="+Inf"} 4
lat_seconds_sum{op="read"} 20.65
lat_seconds_count{op="read"} 4
lat_seconds_bucket{op="write",le="0.1"} 0
lat_seconds_bucket{op="write",le="1"} 0
lat_seconds_bucket{op="write",le="10"} 0
lat_seconds_bucket{op="write",le="+Inf"} 1
lat_seconds_sum{op="write"} 1e+06
lat_seconds_count{op="write"} 1
`},
		{"PlainHistogram", func(r *telemetry.Registry) {
			r.Histogram("h", "H.", []float64{1}).Observe(0)
		}, "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n"},
		{"CollectorsSorted", func(r *telemetry.Registry) {
			r.CounterFunc("drops_total", "Drops.", []string{"reason"}, func(emit func(float64, ...string)) {
				emit(7, "too_large")
				emit(2, "queue_full")
			})
			r.GaugeFunc("up", "Up.", nil, func(emit func(float64, ...string)) { emit(1) })
			r.GaugeFunc("none", "Emits nothing.", nil, func(emit func(float64, ...string)) {})
		}, `# HELP drops_total Drops.
# TYPE drops_total counter
drops_total{reason="queue_full"} 2
drops_total{reason="too_large"} 7
# HELP up Up.
# TYPE up gauge
up 1
`},
		{"SpecialValues", func(r *telemetry.Registry) {
			r.GaugeFunc("v", "V.", []string{"k"}, func(emit func(float64, ...string)) {
				emit(math.Inf(1), "a")
				emit(math.Inf(-1), "b")
				emit(math.NaN(), "c")
				emit(1.5e-7, "d")
			})
		}, "# HELP v V.\n# TYPE v gauge\nv{k=\"a\"} +Inf\nv{k=\"b\"} -Inf\nv{k=\"c\"} NaN\nv{k=\"d\"} 1.5e-07\n"},
		{"HelpEscaping", func(r *telemetry.Registry) {
			r.Gauge("g", "Back\\slash, \"quotes\" stay,\nnew line.").Set(0)
		}, "# HELP g Back\\\\slash, \"quotes\" stay,\\nnew line.\n# TYPE g gauge\ng 0\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := telemetry.NewRegistry()
			tc.setup(r)
			if got := text(r); got != tc.want {
				t.Errorf("WriteText =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestEscapeLabelValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{"a\nb", `a\nb`},
		{`\"`, `\\\"`},           // each escaped on its own, not as a pair
		{`\n`, `\\n`},            // a literal backslash-n is not a line feed
		{"\r\t", "\r\t"},         // only the three characters the format names
		{"é ☃ \xff", "é ☃ \xff"}, // UTF-8 and invalid bytes pass unchanged
		{"{a=\"b\",c}", `{a=\"b\",c}`},
	}
	for _, tc := range tests {
		if got := telemetry.EscapeLabelValue(tc.in); got != tc.want {
			t.Errorf("EscapeLabelValue(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	// In context: the label line a scraper parses.
	r := telemetry.NewRegistry()
	r.CounterVec("c_total", "C.", "path").With("/x\"y\\z\n").Inc()
	want := "# HELP c_total C.\n# TYPE c_total counter\nc_total{path=\"/x\\\"y\\\\z\\n\"} 1\n"
	if got := text(r); got != want {
		t.Errorf("WriteText = %q; want %q", got, want)
	}
}

func TestHandler(t *testing.T) {
	r := telemetry.NewRegistry()
	r.Counter("n_total", "N.").Inc()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != telemetry.ContentType {
		t.Errorf("Content-Type = %q; want %q", ct, telemetry.ContentType)
	}
	body, _ := io.ReadAll(rec.Body)
	if want := "# HELP n_total N.\n# TYPE n_total counter\nn_total 1\n"; string(body) != want {
		t.Errorf("body = %q; want %q", body, want)
	}
}

func TestRegistry_PanicsOnProgrammerErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func(r *telemetry.Registry)
	}{
		{"EmptyName", func(r *telemetry.Registry) { r.Counter("", "x") }},
		{"BadName", func(r *telemetry.Registry) { r.Counter("1abc", "x") }},
		{"DashInName", func(r *telemetry.Registry) { r.Counter("a-b", "x") }},
		{"Duplicate", func(r *telemetry.Registry) { r.Counter("a", "x"); r.Gauge("a", "y") }},
		{"ReservedLabel", func(r *telemetry.Registry) { r.CounterVec("a", "x", "__name") }},
		{"ColonInLabel", func(r *telemetry.Registry) { r.CounterVec("a", "x", "a:b") }},
		{"LeOnHistogram", func(r *telemetry.Registry) { r.HistogramVec("a", "x", []float64{1}, "le") }},
		{"UnsortedBuckets", func(r *telemetry.Registry) { r.Histogram("a", "x", []float64{2, 1}) }},
		{"NoBuckets", func(r *telemetry.Registry) { r.Histogram("a", "x", nil) }},
		{"InfBucket", func(r *telemetry.Registry) { r.Histogram("a", "x", []float64{1, math.Inf(1)}) }},
		{"WrongValueCount", func(r *telemetry.Registry) { r.CounterVec("a", "x", "k").With("v", "w") }},
		{"CollectorWrongValueCount", func(r *telemetry.Registry) {
			r.GaugeFunc("a", "x", []string{"k"}, func(emit func(float64, ...string)) { emit(1) })
			text(r)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.fn(telemetry.NewRegistry())
		})
	}
}

func TestUpdates_DoNotAllocate(t *testing.T) {
	r := telemetry.NewRegistry()
	c := r.Counter("c_total", "C.")
	g := r.Gauge("g", "G.")
	h := r.Histogram("h", "H.", telemetry.DurationBuckets)
	vec := r.CounterVec("v_total", "V.", "method", "code")
	vec.With("GET", "200") // the first With of a label set allocates the child
	tests := []struct {
		name string
		fn   func()
	}{
		{"CounterInc", func() { c.Inc() }},
		{"GaugeSet", func() { g.Set(3) }},
		{"HistogramObserve", func() { h.Observe(0.003) }},
		{"VecWithHit", func() { vec.With("GET", "200").Inc() }},
	}
	for _, tc := range tests {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s allocates %v times; want 0", tc.name, n)
		}
	}
}

func TestConcurrentUpdatesAndScrapes(t *testing.T) {
	r := telemetry.NewRegistry()
	c := r.CounterVec("c_total", "C.", "k")
	h := r.Histogram("h", "H.", []float64{1})
	const workers, n = 4, 1000
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range n {
				c.With(string(rune('a' + (w+i)%3))).Inc()
				h.Observe(float64(i % 2))
			}
		}()
	}
	for range 10 {
		text(r) // races with the updates; -race checks it
	}
	for range workers {
		<-done
	}
	out := text(r)
	for _, want := range []string{"h_count 4000\n", "h_bucket{le=\"1\"} 4000\n", "h_sum 2000\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if total := c.With("a").Value() + c.With("b").Value() + c.With("c").Value(); total != workers*n {
		t.Errorf("counter total = %v; want %d", total, workers*n)
	}
}

// BenchmarkHistogramObserve is the cost of one observation on a hot path, from
// goroutines on every core at once (the broker's writers observe deliveries so).
func BenchmarkHistogramObserve(b *testing.B) {
	h := telemetry.NewRegistry().Histogram("bench_seconds", "bench", telemetry.DurationBuckets)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := 0.0001
		for pb.Next() {
			h.Observe(v)
			v += 0.0001
			if v > 1 {
				v = 0.0001
			}
		}
	})
}
