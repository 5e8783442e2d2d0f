package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

func (e env) plot(args []string) error {
	fs := e.newFlagSet("plot", "Read -json result lines (files, or stdin when none are given) and write a PNG with\n"+
		"two charts of one scenario, one line per target (and QoS):\n"+
		"  fanout         deliveries/s and p99 latency against the offered load (sent/s)\n"+
		"  slow-consumer  the same for the fast subscribers, without and with the slow one (+SLOW)\n"+
		"  idle           server bytes per connection and server RSS against connections open\n"+
		"  connect-storm  connects/s and p99 connect latency against -workers (concurrent attempts)\n\n"+
		"  herald-bench plot -o fanout.png herald.jsonl mosquitto.jsonl")
	out := fs.String("o", "", "output PNG file (default: <scenario>.png)")
	scenario := fs.String("scenario", "", "scenario to plot when the input holds several (default: that of the first result)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scenario != "" && plotSpecs[*scenario] == nil {
		return &usageError{fmt.Sprintf("-scenario %q: plot draws %s", *scenario, plottable())}
	}
	var results []Result
	readAll := func(r io.Reader, name string) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var res Result
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			results = append(results, res)
		}
		return sc.Err()
	}
	if fs.NArg() == 0 {
		if err := readAll(os.Stdin, "stdin"); err != nil {
			return err
		}
	}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("open results: %w", err)
		}
		err = readAll(f, name)
		f.Close()
		if err != nil {
			return err
		}
	}
	if len(results) == 0 {
		return fmt.Errorf("no results to plot")
	}
	name := *scenario
	if name == "" {
		name = results[0].Scenario
	}
	spec := plotSpecs[name]
	if spec == nil {
		return fmt.Errorf("the first result is of scenario %q; plot draws %s (choose with -scenario)", name, plottable())
	}
	ss := seriesFor(name, results)
	if len(ss) == 0 {
		return fmt.Errorf("no %s results with figures to plot", name)
	}
	path := *out
	if path == "" {
		path = name + ".png"
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create plot: %w", err)
	}
	if err := writePlot(f, spec, ss); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	fmt.Fprintf(e.stderr, "herald-bench: wrote %s (%s, %d series)\n", path, name, len(ss))
	return nil
}

// series is one line of the plot: a target (at one QoS, …), points sorted by x.
type series struct {
	label  string
	points [][3]float64 // x, then the y of each of the two charts
}

// chart is one of the two charts of a plot: its title and what it shows of a result.
type chart struct {
	title string
	y     func(r *Result) float64
}

// plotSpec says how to plot a scenario.
type plotSpec struct {
	xTitle string
	// x returns a result's x value, and false for a result without the figures
	// plotted (an unmeasured step, memory unknown).
	x func(r *Result) (float64, bool)
	// label names the line of a result; qosApart is set when the scenario's
	// results hold several QoS, which must not share a line.
	label  func(r *Result, qosApart bool) string
	charts [2]chart
}

// plotSpecs are the scenarios plot draws.
var plotSpecs = map[string]*plotSpec{
	"fanout": {
		xTitle: "OFFERED LOAD (SENT/S)",
		x:      func(r *Result) (float64, bool) { return r.SentRate, r.SentRate > 0 },
		label:  func(r *Result, _ bool) string { return targetLabel(r, true) },
		charts: [2]chart{
			{"DELIVERIES/S", func(r *Result) float64 { return r.DeliveriesPerSec }},
			{"P99 LATENCY (MS)", func(r *Result) float64 { return r.P99 }},
		},
	},
	// slow-consumer results are the fast subscribers' figures; the steps run with
	// the slow subscriber connected are named "with-slow", those after it left
	// "after" (runFanout).
	"slow-consumer": {
		xTitle: "OFFERED LOAD (SENT/S)",
		x:      func(r *Result) (float64, bool) { return r.SentRate, r.SentRate > 0 },
		label: func(r *Result, _ bool) string {
			switch r.Step {
			case "with-slow":
				return targetLabel(r, true) + " +SLOW"
			case "after":
				return targetLabel(r, true) + " AFTER"
			}
			return targetLabel(r, true)
		},
		charts: [2]chart{
			{"DELIVERIES/S, FAST SUBSCRIBERS", func(r *Result) float64 { return r.DeliveriesPerSec }},
			{"P99 LATENCY (MS), FAST SUBSCRIBERS", func(r *Result) float64 { return r.P99 }},
		},
	},
	"idle": {
		xTitle: "CONNECTIONS OPEN",
		x:      func(r *Result) (float64, bool) { return float64(r.Conn), r.Conn > 0 && r.RSSAfter > 0 },
		label:  targetLabel,
		charts: [2]chart{
			{"SERVER KIB PER CONNECTION", func(r *Result) float64 { return r.BytesPerConn / (1 << 10) }},
			{"SERVER RSS (MIB)", func(r *Result) float64 { return float64(r.RSSAfter) / (1 << 20) }},
		},
	},
	// connect-storm results carry their -workers step in Step (runStorm).
	"connect-storm": {
		xTitle: "WORKERS (CONCURRENT CONNECTION ATTEMPTS)",
		x: func(r *Result) (float64, bool) {
			w, err := strconv.Atoi(r.Step)
			return float64(w), err == nil && w > 0 && r.Conn > 0
		},
		label: targetLabel,
		charts: [2]chart{
			{"CONNECTS/S", func(r *Result) float64 { return r.ConnectsPerSec }},
			{"P99 CONNECT LATENCY (MS)", func(r *Result) float64 { return r.P99 }},
		},
	},
}

// plottable lists the scenarios plot draws, for errors.
func plottable() string {
	names := make([]string, 0, len(plotSpecs))
	for n := range plotSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// targetLabel is "HERALD", with " QOS1" when withQoS.
func targetLabel(r *Result, withQoS bool) string {
	if withQoS {
		return strings.ToUpper(r.Target) + " QOS" + strconv.Itoa(r.QoS)
	}
	return strings.ToUpper(r.Target)
}

// seriesFor groups the results of scenario (which must be in plotSpecs) into lines,
// sorted by label, each with its points sorted by x.
func seriesFor(scenario string, results []Result) []series {
	spec := plotSpecs[scenario]
	qos := map[int]bool{}
	for _, r := range results {
		if r.Scenario == scenario {
			qos[r.QoS] = true
		}
	}
	by := map[string]*series{}
	var keys []string
	for i := range results {
		r := &results[i]
		if r.Scenario != scenario {
			continue
		}
		x, ok := spec.x(r)
		if !ok {
			continue
		}
		k := spec.label(r, len(qos) > 1)
		if by[k] == nil {
			by[k] = &series{label: k}
			keys = append(keys, k)
		}
		by[k].points = append(by[k].points, [3]float64{x, spec.charts[0].y(r), spec.charts[1].y(r)})
	}
	sort.Strings(keys)
	out := make([]series, 0, len(keys))
	for _, k := range keys {
		s := by[k]
		sort.SliceStable(s.points, func(i, j int) bool { return s.points[i][0] < s.points[j][0] })
		out = append(out, *s)
	}
	return out
}

// Plot geometry: two charts side by side, the legend below in rows of
// legendCols; the image grows by a legend row for more than two rows.
const (
	plotW, plotH  = 1000, 420
	chartW        = 400
	chartH        = 300
	marginL       = 70
	marginT       = 50
	chartGap      = 100
	legendTop     = plotH - 26
	legendCols    = 4
	legendColW    = 230
	legendRowH    = 16
	fontScale     = 2
	glyphW, glyph = 3, 5
)

// plotHeight is the height of a plot with n series.
func plotHeight(n int) int {
	rows := (n + legendCols - 1) / legendCols
	return plotH + max(rows-2, 0)*legendRowH
}

// chartRect is the frame of chart c (0 or 1).
func chartRect(c int) image.Rectangle {
	x0 := marginL + c*(chartW+chartGap)
	return image.Rect(x0, marginT, x0+chartW, marginT+chartH)
}

// toPixel maps (x, y) of a chart whose axes end at maxX and maxY into its frame r;
// values outside the axes (a negative memory difference) stay on the frame.
func toPixel(r image.Rectangle, x, y, maxX, maxY float64) image.Point {
	scale := func(v, m float64, n int) int {
		if !(v > 0) { // also NaN
			return 0
		}
		return min(int(v/m*float64(n)), n)
	}
	return image.Pt(r.Min.X+scale(x, maxX, r.Dx()), r.Max.Y-scale(y, maxY, r.Dy()))
}

// seriesColor colours the series in order.
func seriesColor(i int) color.RGBA {
	palette := [...]color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {148, 103, 189, 255},
		{255, 127, 14, 255}, {23, 190, 207, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {188, 189, 34, 255}, {127, 127, 127, 255}}
	return palette[i%len(palette)]
}

// writePlot draws the two charts of spec and a legend as a PNG.
func writePlot(w io.Writer, spec *plotSpec, ss []series) error {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotHeight(len(ss))))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	black, grey := color.RGBA{0, 0, 0, 255}, color.RGBA{80, 80, 80, 255}
	var maxX float64
	var maxY [2]float64
	for _, s := range ss {
		for _, p := range s.points {
			maxX = math.Max(maxX, p[0])
			maxY[0], maxY[1] = math.Max(maxY[0], p[1]), math.Max(maxY[1], p[2])
		}
	}
	maxX = niceMax(maxX)
	for c, ch := range spec.charts {
		r := chartRect(c)
		top := niceMax(maxY[c])
		drawText(img, r.Min.X, marginT-30, ch.title, black)
		axes(img, r, maxX, top)
		for i, s := range ss {
			col := seriesColor(i)
			var prev image.Point
			for j, p := range s.points {
				pt := toPixel(r, p[0], p[1+c], maxX, top)
				fill(img, image.Rect(pt.X-3, pt.Y-3, pt.X+4, pt.Y+4), col)
				if j > 0 {
					line(img, prev, pt, col)
				}
				prev = pt
			}
		}
		drawText(img, r.Min.X+(chartW-textWidth(spec.xTitle))/2, r.Max.Y+30, spec.xTitle, grey)
	}
	for i, s := range ss {
		x := marginL + (i%legendCols)*legendColW
		y := legendTop + (i/legendCols)*legendRowH
		fill(img, image.Rect(x, y, x+20, y+10), seriesColor(i))
		drawText(img, x+28, y, s.label, black)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode png: %w", err)
	}
	return nil
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten, so ticks are round.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// axes draws the frame of r with five ticks labelled up to maxX and maxY.
func axes(img *image.RGBA, r image.Rectangle, maxX, maxY float64) {
	black, grey := color.RGBA{0, 0, 0, 255}, color.RGBA{225, 225, 225, 255}
	for i := 0; i <= 5; i++ {
		y := r.Max.Y - i*r.Dy()/5
		x := r.Min.X + i*r.Dx()/5
		line(img, image.Pt(r.Min.X, y), image.Pt(r.Max.X, y), grey)
		drawText(img, r.Min.X-8-textWidth(label(maxY*float64(i)/5)), y-5, label(maxY*float64(i)/5), black)
		drawText(img, x-textWidth(label(maxX*float64(i)/5))/2, r.Max.Y+8, label(maxX*float64(i)/5), black)
	}
	line(img, r.Min, image.Pt(r.Min.X, r.Max.Y), black)
	line(img, image.Pt(r.Min.X, r.Max.Y), r.Max, black)
}

// label formats a tick value briefly: 1500 → 1.5K, 2000000 → 2M.
func label(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "K"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a two-pixel-wide line from a to b (Bresenham).
func line(img *image.RGBA, a, b image.Point, c color.RGBA) {
	dx, dy := abs(b.X-a.X), -abs(b.Y-a.Y)
	sx, sy := sign(b.X-a.X), sign(b.Y-a.Y)
	e := dx + dy
	for {
		img.SetRGBA(a.X, a.Y, c)
		img.SetRGBA(a.X, a.Y+1, c)
		if a == b {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			a.X += sx
		} else {
			e += dx
			a.Y += sy
		}
	}
}

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// font is a 3×5 pixel font for the characters the plot writes; each glyph is five
// rows of three bits, most significant bit on the left.
func font(r rune) [glyph]byte {
	switch r {
	case '0':
		return [5]byte{7, 5, 5, 5, 7}
	case '1':
		return [5]byte{2, 6, 2, 2, 7}
	case '2':
		return [5]byte{7, 1, 7, 4, 7}
	case '3':
		return [5]byte{7, 1, 3, 1, 7}
	case '4':
		return [5]byte{5, 5, 7, 1, 1}
	case '5':
		return [5]byte{7, 4, 7, 1, 7}
	case '6':
		return [5]byte{7, 4, 7, 5, 7}
	case '7':
		return [5]byte{7, 1, 2, 2, 2}
	case '8':
		return [5]byte{7, 5, 7, 5, 7}
	case '9':
		return [5]byte{7, 5, 7, 1, 7}
	case '.':
		return [5]byte{0, 0, 0, 0, 2}
	case '/':
		return [5]byte{1, 1, 2, 4, 4}
	case '(':
		return [5]byte{2, 4, 4, 4, 2}
	case ')':
		return [5]byte{2, 1, 1, 1, 2}
	case '-':
		return [5]byte{0, 0, 7, 0, 0}
	case '+':
		return [5]byte{0, 2, 7, 2, 0}
	case ':':
		return [5]byte{0, 2, 0, 2, 0}
	case ',':
		return [5]byte{0, 0, 0, 2, 4}
	case 'A':
		return [5]byte{2, 5, 7, 5, 5}
	case 'B':
		return [5]byte{6, 5, 6, 5, 6}
	case 'C':
		return [5]byte{7, 4, 4, 4, 7}
	case 'D':
		return [5]byte{6, 5, 5, 5, 6}
	case 'E':
		return [5]byte{7, 4, 6, 4, 7}
	case 'F':
		return [5]byte{7, 4, 6, 4, 4}
	case 'G':
		return [5]byte{7, 4, 5, 5, 7}
	case 'H':
		return [5]byte{5, 5, 7, 5, 5}
	case 'I':
		return [5]byte{7, 2, 2, 2, 7}
	case 'J':
		return [5]byte{1, 1, 1, 5, 7}
	case 'K':
		return [5]byte{5, 5, 6, 5, 5}
	case 'L':
		return [5]byte{4, 4, 4, 4, 7}
	case 'M':
		return [5]byte{5, 7, 7, 5, 5}
	case 'N':
		return [5]byte{6, 5, 5, 5, 5}
	case 'O':
		return [5]byte{7, 5, 5, 5, 7}
	case 'P':
		return [5]byte{7, 5, 7, 4, 4}
	case 'Q':
		return [5]byte{7, 5, 5, 7, 1}
	case 'R':
		return [5]byte{6, 5, 6, 5, 5}
	case 'S':
		return [5]byte{7, 4, 7, 1, 7}
	case 'T':
		return [5]byte{7, 2, 2, 2, 2}
	case 'U':
		return [5]byte{5, 5, 5, 5, 7}
	case 'V':
		return [5]byte{5, 5, 5, 5, 2}
	case 'W':
		return [5]byte{5, 5, 7, 7, 5}
	case 'X':
		return [5]byte{5, 5, 2, 5, 5}
	case 'Y':
		return [5]byte{5, 5, 2, 2, 2}
	case 'Z':
		return [5]byte{7, 1, 2, 4, 7}
	}
	return [5]byte{} // space and anything unknown
}

func textWidth(s string) int { return len(s) * (glyphW + 1) * fontScale }

// drawText writes s with its top-left corner at (x, y).
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g := font(r)
		for row, bits := range g {
			for col := range glyphW {
				if bits&(1<<(glyphW-1-col)) != 0 {
					fill(img, image.Rect(x+col*fontScale, y+row*fontScale, x+(col+1)*fontScale, y+(row+1)*fontScale), c)
				}
			}
		}
		x += (glyphW + 1) * fontScale
	}
}
