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
	fs := e.newFlagSet("plot", "Read -json result lines of fanout runs (files, or stdin when none are given) and\n"+
		"write a PNG with two charts against the offered load (sent/s): deliveries per second,\n"+
		"and p99 latency in ms; one line per target and QoS.\n\n"+
		"  herald-bench plot -o fanout.png herald.jsonl mosquitto.jsonl")
	out := fs.String("o", "fanout.png", "output PNG file")
	if err := fs.Parse(args); err != nil {
		return err
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
	series := fanoutSeries(results)
	if len(series) == 0 {
		return fmt.Errorf("no fanout results to plot")
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("create plot: %w", err)
	}
	if err := writePlot(f, series); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	fmt.Fprintf(e.stderr, "herald-bench: wrote %s (%d series)\n", *out, len(series))
	return nil
}

// series is one line of the plot: a target at one QoS, points sorted by load.
type series struct {
	label  string
	points [][3]float64 // sent/s, deliveries/s, p99 ms
}

// fanoutSeries groups fanout results by target and QoS.
func fanoutSeries(results []Result) []series {
	by := map[string]*series{}
	var keys []string
	for _, r := range results {
		if r.Scenario != "fanout" || r.SentRate <= 0 {
			continue
		}
		k := strings.ToUpper(r.Target) + " QOS" + strconv.Itoa(r.QoS)
		if by[k] == nil {
			by[k] = &series{label: k}
			keys = append(keys, k)
		}
		by[k].points = append(by[k].points, [3]float64{r.SentRate, r.DeliveriesPerSec, r.P99})
	}
	sort.Strings(keys)
	out := make([]series, 0, len(keys))
	for _, k := range keys {
		s := by[k]
		sort.Slice(s.points, func(i, j int) bool { return s.points[i][0] < s.points[j][0] })
		out = append(out, *s)
	}
	return out
}

// Plot geometry: two charts side by side.
const (
	plotW, plotH  = 1000, 420
	chartW        = 400
	chartH        = 300
	marginL       = 70
	marginT       = 50
	chartGap      = 100
	legendTop     = plotH - 26
	fontScale     = 2
	glyphW, glyph = 3, 5
)

// seriesColor colours the series in order.
func seriesColor(i int) color.RGBA {
	palette := [...]color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}, {255, 127, 14, 255}, {23, 190, 207, 255}}
	return palette[i%len(palette)]
}

// writePlot draws the two charts and a legend as a PNG.
func writePlot(w io.Writer, ss []series) error {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	var maxX, maxD, maxL float64
	for _, s := range ss {
		for _, p := range s.points {
			maxX, maxD, maxL = math.Max(maxX, p[0]), math.Max(maxD, p[1]), math.Max(maxL, p[2])
		}
	}
	for c, title := range []string{"DELIVERIES/S", "P99 MS"} {
		x0 := marginL + c*(chartW+chartGap)
		maxY := [2]float64{maxD, maxL}[c]
		r := image.Rect(x0, marginT, x0+chartW, marginT+chartH)
		drawText(img, x0, marginT-30, title, color.RGBA{0, 0, 0, 255})
		axes(img, r, niceMax(maxX), niceMax(maxY))
		for i, s := range ss {
			col := seriesColor(i)
			var prev image.Point
			for j, p := range s.points {
				pt := image.Pt(r.Min.X+int(p[0]/niceMax(maxX)*float64(chartW)),
					r.Max.Y-int(p[1+c]/niceMax(maxY)*float64(chartH)))
				fill(img, image.Rect(pt.X-3, pt.Y-3, pt.X+4, pt.Y+4), col)
				if j > 0 {
					line(img, prev, pt, col)
				}
				prev = pt
			}
		}
	}
	for i, s := range ss {
		x := marginL + (i%3)*300
		y := legendTop + (i/3)*16
		col := seriesColor(i)
		fill(img, image.Rect(x, y, x+20, y+10), col)
		drawText(img, x+28, y, s.label, color.RGBA{0, 0, 0, 255})
	}
	drawText(img, marginL+chartW/2-60, marginT+chartH+30, "OFFERED LOAD (SENT/S)", color.RGBA{80, 80, 80, 255})
	drawText(img, marginL+chartW+chartGap+chartW/2-60, marginT+chartH+30, "OFFERED LOAD (SENT/S)", color.RGBA{80, 80, 80, 255})
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
	case 'A':
		return [5]byte{2, 5, 7, 5, 5}
	case 'D':
		return [5]byte{6, 5, 5, 5, 6}
	case 'E':
		return [5]byte{7, 4, 6, 4, 7}
	case 'F':
		return [5]byte{7, 4, 6, 4, 4}
	case 'H':
		return [5]byte{5, 5, 7, 5, 5}
	case 'I':
		return [5]byte{7, 2, 2, 2, 7}
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
	case 'Y':
		return [5]byte{5, 5, 2, 2, 2}
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
