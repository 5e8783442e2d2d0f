package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/heraldmq/herald/internal/servertest"
)

// plotCases are synthetic results of each plotted scenario, mixed with results the
// scenario's plot must leave out, and the lines expected from them. The values
// keep the markers of different lines apart, so that each marker's centre pixel
// shows its own line's colour.
var plotCases = []struct {
	scenario string
	results  []Result
	want     []series
}{
	{
		scenario: "fanout",
		results: []Result{
			{Scenario: "fanout", Target: "herald", Step: "2", SentRate: 5000, DeliveriesPerSec: 15000, P99: 4},
			{Scenario: "fanout", Target: "herald", Step: "1", SentRate: 1000, DeliveriesPerSec: 3000, P99: 2},
			{Scenario: "fanout", Target: "mosquitto", SentRate: 2000, DeliveriesPerSec: 5000, P99: 20},
			{Scenario: "fanout", Target: "mosquitto", SentRate: 4000, DeliveriesPerSec: 9000, P99: 40},
			{Scenario: "idle", Target: "herald", Conn: 10, RSSAfter: 1 << 20},      // another scenario
			{Scenario: "fanout", Target: "mosquitto", QoS: 1, SentRate: 0, P99: 1}, // nothing sent: left out
		},
		want: []series{
			{"HERALD QOS0", [][3]float64{{1000, 3000, 2}, {5000, 15000, 4}}},
			{"MOSQUITTO QOS0", [][3]float64{{2000, 5000, 20}, {4000, 9000, 40}}},
		},
	},
	{
		scenario: "slow-consumer",
		results: []Result{
			{Scenario: "slow-consumer", Target: "herald", QoS: 1, Step: "baseline", SentRate: 1000, DeliveriesPerSec: 3000, P99: 2},
			{Scenario: "slow-consumer", Target: "herald", QoS: 1, Step: "baseline", SentRate: 4000, DeliveriesPerSec: 12000, P99: 3},
			{Scenario: "slow-consumer", Target: "herald", QoS: 1, Step: "with-slow", SentRate: 1000, DeliveriesPerSec: 2000, P99: 10},
			{Scenario: "slow-consumer", Target: "herald", QoS: 1, Step: "with-slow", SentRate: 4000, DeliveriesPerSec: 6000, P99: 30},
			{Scenario: "slow-consumer", Target: "herald", QoS: 1, Step: "after", SentRate: 1000, DeliveriesPerSec: 2500, P99: 4},
			{Scenario: "slow-consumer", Target: "mosquitto", QoS: 1, Step: "baseline", SentRate: 2000, DeliveriesPerSec: 9000, P99: 5},
			{Scenario: "slow-consumer", Target: "mosquitto", QoS: 1, Step: "baseline", SentRate: 5000, DeliveriesPerSec: 15000, P99: 6},
			{Scenario: "slow-consumer", Target: "mosquitto", QoS: 1, Step: "with-slow", SentRate: 2000, DeliveriesPerSec: 1000, P99: 50},
			{Scenario: "slow-consumer", Target: "mosquitto", QoS: 1, Step: "with-slow", SentRate: 5000, DeliveriesPerSec: 500, P99: 80},
			{Scenario: "fanout", Target: "herald", QoS: 1, SentRate: 3000, DeliveriesPerSec: 9000, P99: 1},
		},
		want: []series{
			{"HERALD QOS1", [][3]float64{{1000, 3000, 2}, {4000, 12000, 3}}},
			{"HERALD QOS1 +SLOW", [][3]float64{{1000, 2000, 10}, {4000, 6000, 30}}},
			{"HERALD QOS1 AFTER", [][3]float64{{1000, 2500, 4}}},
			{"MOSQUITTO QOS1", [][3]float64{{2000, 9000, 5}, {5000, 15000, 6}}},
			{"MOSQUITTO QOS1 +SLOW", [][3]float64{{2000, 1000, 50}, {5000, 500, 80}}},
		},
	},
	{
		scenario: "idle",
		results: []Result{
			{Scenario: "idle", Target: "herald", Step: "5000", Conn: 5000, BytesPerConn: 15 << 10, RSSAfter: 150 << 20},
			{Scenario: "idle", Target: "herald", Step: "2000", Conn: 2000, BytesPerConn: 20 << 10, RSSAfter: 100 << 20},
			{Scenario: "idle", Target: "herald", Step: "10000", Conn: 10000, BytesPerConn: 12 << 10, RSSAfter: 200 << 20},
			{Scenario: "idle", Target: "mosquitto", Conn: 2000, BytesPerConn: 4 << 10, RSSAfter: 10 << 20},
			{Scenario: "idle", Target: "mosquitto", Conn: 10000, BytesPerConn: 3 << 10, RSSAfter: 40 << 20},
			{Scenario: "idle", Target: "mosquitto", Conn: 3000}, // server memory unknown: left out
		},
		want: []series{
			{"HERALD", [][3]float64{{2000, 20, 100}, {5000, 15, 150}, {10000, 12, 200}}},
			{"MOSQUITTO", [][3]float64{{2000, 4, 10}, {10000, 3, 40}}},
		},
	},
	{
		scenario: "connect-storm",
		results: []Result{
			{Scenario: "connect-storm", Target: "herald", Step: "8", Conn: 5000, ConnectsPerSec: 2000, P99: 10},
			{Scenario: "connect-storm", Target: "herald", Step: "64", Conn: 5000, ConnectsPerSec: 3200, P99: 40},
			{Scenario: "connect-storm", Target: "herald", Step: "32", Conn: 5000, ConnectsPerSec: 3000, P99: 20},
			{Scenario: "connect-storm", Target: "mosquitto", Step: "8", Conn: 5000, ConnectsPerSec: 5000, P99: 2},
			{Scenario: "connect-storm", Target: "mosquitto", Step: "64", Conn: 5000, ConnectsPerSec: 9000, P99: 6},
			{Scenario: "connect-storm", Target: "mosquitto", Conn: 5000, ConnectsPerSec: 1, P99: 1},         // no -workers step: left out
			{Scenario: "connect-storm", Target: "mosquitto", Step: "16", ConnectsPerSec: 0, Failures: 5000}, // nothing connected
		},
		want: []series{
			{"HERALD", [][3]float64{{8, 2000, 10}, {32, 3000, 20}, {64, 3200, 40}}},
			{"MOSQUITTO", [][3]float64{{8, 5000, 2}, {64, 9000, 6}}},
		},
	},
}

func TestSeriesFor(t *testing.T) {
	for _, tc := range plotCases {
		if got := seriesFor(tc.scenario, tc.results); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: series = %+v\nwant %+v", tc.scenario, got, tc.want)
		}
	}
	// Results of several QoS get a line each, named by QoS, where the brief label
	// is the target alone.
	mixed := []Result{
		{Scenario: "idle", Target: "herald", QoS: 0, Conn: 100, BytesPerConn: 1024, RSSAfter: 1 << 20},
		{Scenario: "idle", Target: "herald", QoS: 1, Conn: 100, BytesPerConn: 2048, RSSAfter: 1 << 20},
	}
	var labels []string
	for _, s := range seriesFor("idle", mixed) {
		labels = append(labels, s.label)
	}
	if want := []string{"HERALD QOS0", "HERALD QOS1"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("labels with two QoS = %q; want %q", labels, want)
	}
}

// sameColor reports whether c is exactly want.
func sameColor(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	return uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B
}

// colorIn reports whether some pixel of img within r is exactly want.
func colorIn(img image.Image, r image.Rectangle, want color.RGBA) bool {
	for y := r.Min.Y; y <= r.Max.Y; y++ {
		for x := r.Min.X; x <= r.Max.X; x++ {
			if sameColor(img.At(x, y), want) {
				return true
			}
		}
	}
	return false
}

// TestWritePlot draws each scenario and checks, in the decoded PNG, that every
// point of every line has a marker of its line's colour where the axes put it, in
// both charts, and that no colour beyond the lines' is drawn in the charts.
func TestWritePlot(t *testing.T) {
	for _, tc := range plotCases {
		ss := seriesFor(tc.scenario, tc.results)
		var buf bytes.Buffer
		if err := writePlot(&buf, plotSpecs[tc.scenario], ss); err != nil {
			t.Fatalf("%s: %v", tc.scenario, err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%s: decode png: %v", tc.scenario, err)
		}
		if b := img.Bounds(); b.Dx() != plotW || b.Dy() != plotH {
			t.Errorf("%s: size = %v; want %dx%d", tc.scenario, b, plotW, plotH)
		}
		var maxX float64
		var maxY [2]float64
		for _, s := range ss {
			for _, p := range s.points {
				maxX, maxY[0], maxY[1] = max(maxX, p[0]), max(maxY[0], p[1]), max(maxY[1], p[2])
			}
		}
		for c := range 2 {
			r := chartRect(c)
			for i, s := range ss {
				for _, p := range s.points {
					pt := toPixel(r, p[0], p[1+c], niceMax(maxX), niceMax(maxY[c]))
					if !sameColor(img.At(pt.X, pt.Y), seriesColor(i)) {
						t.Errorf("%s chart %d: %s point %v at %v is %v; want %v", tc.scenario, c, s.label, p, pt, img.At(pt.X, pt.Y), seriesColor(i))
					}
				}
			}
			if unused := seriesColor(len(ss)); colorIn(img, r, unused) {
				t.Errorf("%s chart %d: colour %v of no line was drawn", tc.scenario, c, unused)
			}
		}
	}
}

func TestPlotHeight(t *testing.T) {
	// Two legend rows fit in plotH; each further row adds legendRowH.
	for n, want := range map[int]int{1: plotH, 2 * legendCols: plotH, 2*legendCols + 1: plotH + legendRowH, 4 * legendCols: plotH + 2*legendRowH} {
		if got := plotHeight(n); got != want {
			t.Errorf("plotHeight(%d) = %d; want %d", n, got, want)
		}
	}
}

// TestPlotCommand runs "herald-bench plot" on JSON lines files as written by the
// load commands.
func TestPlotCommand(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	write := func(name string, results []Result) string {
		var buf bytes.Buffer
		if err := writeJSON(&buf, results); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	var all []Result
	for _, tc := range plotCases {
		all = append(all, tc.results...)
	}
	mixed := write("mixed.jsonl", all)
	fanoutOnly := write("fanout.jsonl", plotCases[0].results[:4])
	metricsFirst := write("metrics.jsonl", append([]Result{{Scenario: "metrics", Target: "herald"}}, all...))
	empty := write("empty.jsonl", nil)

	run := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), append([]string{"plot"}, args...), &stdout, &stderr)
		return code, stderr.String()
	}
	decode := func(name string) image.Image {
		t.Helper()
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return img
	}

	// Default scenario: the first result's (fanout), default file <scenario>.png.
	if code, errOut := run(mixed); code != 0 {
		t.Fatalf("plot mixed: exit %d: %s", code, errOut)
	}
	if b := decode("fanout.png").Bounds(); b.Dx() != plotW || b.Dy() != plotH {
		t.Errorf("fanout.png size %v", b)
	}
	for _, tc := range plotCases {
		out := filepath.Join(dir, "x-"+tc.scenario+".png")
		code, errOut := run("-scenario", tc.scenario, "-o", out, mixed)
		if code != 0 {
			t.Fatalf("plot -scenario %s: exit %d: %s", tc.scenario, code, errOut)
		}
		// The other cases' results add lines (the slow-consumer case has a fanout
		// result), so count the lines of all the results.
		n := len(seriesFor(tc.scenario, all))
		if want := strconv.Itoa(n) + " series"; n < len(tc.want) || !strings.Contains(errOut, want) {
			t.Errorf("plot -scenario %s: %q; want %q", tc.scenario, errOut, want)
		}
		img := decode(out)
		if !colorIn(img, chartRect(0), seriesColor(n-1)) {
			t.Errorf("plot -scenario %s: the last line is not drawn", tc.scenario)
		}
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-scenario", "nope", mixed}, 2, `-scenario "nope"`},
		{[]string{metricsFirst}, 1, `scenario "metrics"`},
		{[]string{"-scenario", "connect-storm", fanoutOnly}, 1, "no connect-storm results"},
		{[]string{empty}, 1, "no results"},
		{[]string{"missing.jsonl"}, 1, "open results"},
	} {
		code, errOut := run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("plot %q: exit %d, %q; want exit %d with %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

// Step parsing of idle's -conns and connect-storm's -workers.
func TestParseSteps(t *testing.T) {
	for _, tc := range []struct {
		in     string
		rising bool
		want   []int
		msg    string // part of the error, when one is expected
	}{
		{in: "10000", rising: true, want: []int{10000}},
		{in: "2000,5000,10000,19000", rising: true, want: []int{2000, 5000, 10000, 19000}},
		{in: " 1 , 2 ", rising: true, want: []int{1, 2}},
		{in: "128,8,8", want: []int{128, 8, 8}},
		{in: "5000,2000", rising: true, msg: "must rise, but 2000 follows 5000"},
		{in: "5,5", rising: true, msg: "must rise"},
		{in: "", msg: "empty step"},
		{in: "8,,32", msg: "empty step"},
		{in: "8,", msg: "empty step"},
		{in: "0", msg: `"0" is not a whole number of at least 1`},
		{in: "-3", msg: "at least 1"},
		{in: "1.5", msg: "not a whole number"},
		{in: "x", msg: "not a whole number"},
		{in: "99999999999999999999", msg: "not a whole number"},
		{in: "100001", msg: "above the limit of 100000"},
		{in: strings.Repeat("1,", maxSteps) + "1", msg: "at most 99"},
	} {
		got, err := parseSteps("-x", tc.in, 100000, tc.rising)
		if tc.msg != "" {
			var ue *usageError
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "-x: ") || !asUsage(err, &ue) {
				t.Errorf("parseSteps(%q) = %v, %v; want a usage error with %q", tc.in, got, err, tc.msg)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseSteps(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func asUsage(err error, ue **usageError) bool {
	u, ok := err.(*usageError)
	*ue = u
	return ok
}

// The flags reach parseSteps: bad steps are usage errors (exit 2) found before
// any connection is made.
func TestRun_StepFlags(t *testing.T) {
	t.Setenv("HERALD_ADMIN_PASSWORD", "whatever")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"idle", "-conns", "5000,2000"}, "-conns: steps are running totals and must rise"},
		{[]string{"idle", "-conns", "0"}, `-conns: "0" is not`},
		{[]string{"connect-storm", "-workers", "8,x"}, `-workers: "x" is not`},
		{[]string{"connect-storm", "-workers", "0"}, `-workers: "0" is not`},
		{[]string{"connect-storm", "-workers", "1000000"}, "-workers: 1000000 is above the limit"},
	} {
		var out, errOut bytes.Buffer
		if code := Run(context.Background(), tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.msg) {
			t.Errorf("Run(%q) = %d, %q; want 2 with %q", tc.args, code, errOut.String(), tc.msg)
		}
	}
}

// capSteps drops the steps above this process's open-file limit, or lowers a
// single step to it.
func TestCapSteps(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	own := int(lim.Cur) - fdReserve
	if own < 10 {
		t.Skipf("open-file limit %d too low", lim.Cur)
	}
	for _, tc := range []struct {
		steps, want []int
		note        string
	}{
		{[]int{1, 5}, []int{1, 5}, ""},
		{[]int{1, 5, own + 1, own + 2}, []int{1, 5}, "dropped"},
		{[]int{own + 1}, []int{own}, "lowered"},
		{[]int{own + 1, own + 2}, []int{own}, "lowered"},
	} {
		var errOut bytes.Buffer
		got := env{stderr: &errOut}.capSteps(tc.steps, 0)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("capSteps(%v) = %v; want %v", tc.steps, got, tc.want)
		}
		if (tc.note == "") != (errOut.Len() == 0) || !strings.Contains(errOut.String(), tc.note) {
			t.Errorf("capSteps(%v) said %q; want %q", tc.steps, errOut.String(), tc.note)
		}
	}
}

// TestSteps_Herald runs idle with -conns steps and connect-storm with -workers
// steps against a real herald in this process (so the server's memory is this
// process's): one result per step, in order, with the step's figures.
func TestSteps_Herald(t *testing.T) {
	cfg := servertest.Config(t.TempDir(), "bench-admin-secret")
	s := servertest.Run(t, cfg)
	t.Setenv("HERALD_ADMIN_PASSWORD", cfg.Auth.AdminPassword)
	common := []string{"-url", s.URL(), "-cacert", s.CAFile(), "-orgs", "1", "-users", "2", "-pid", strconv.Itoa(os.Getpid()), "-json"}
	run := func(args ...string) []Result {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), append(args, common...), &stdout, &stderr); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr.String())
		}
		var out []Result
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var r Result
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%q: %v in %q", args, err, stdout.String())
			}
			out = append(out, r)
		}
		return out
	}

	idle := run("idle", "-conns", "3,7", "-settle", "1ms")
	if len(idle) != 2 {
		t.Fatalf("idle: %d results; want 2: %+v", len(idle), idle)
	}
	for i, want := range []int{3, 7} {
		r := idle[i]
		if r.Scenario != "idle" || r.Step != strconv.Itoa(want) || r.Conn != want || r.Failures != 0 || r.ConnectsPerSec <= 0 {
			t.Errorf("idle step %d: %+v; want %d connections open", i, r, want)
		}
		if r.RSSBefore != idle[0].RSSBefore || r.RSSAfter <= 0 ||
			r.BytesPerConn != float64(r.RSSAfter-r.RSSBefore)/float64(want) {
			t.Errorf("idle step %d: memory %d → %d, %v B/conn; want against the RSS before the first step", i, r.RSSBefore, r.RSSAfter, r.BytesPerConn)
		}
	}

	storm := run("connect-storm", "-conns", "6", "-workers", "1,3")
	if len(storm) != 2 {
		t.Fatalf("connect-storm: %d results; want 2: %+v", len(storm), storm)
	}
	for i, w := range []string{"1", "3"} {
		r := storm[i]
		if r.Scenario != "connect-storm" || r.Step != w || r.Conn != 6 || r.Failures != 0 || r.ConnectsPerSec <= 0 || r.P99 <= 0 {
			t.Errorf("connect-storm step %d: %+v; want 6 connects with -workers %s", i, r, w)
		}
	}
	if ss := seriesFor("connect-storm", storm); len(ss) != 1 || len(ss[0].points) != 2 || ss[0].points[1][0] != 3 {
		t.Errorf("connect-storm series = %+v; want one line at workers 1 and 3", ss)
	}
}
