package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one measured step of a run: one line of the text table and, with -json,
// one JSON object per line. Zero fields are left out of the JSON.
type Result struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Step     string `json:"step,omitempty"`
	QoS      int    `json:"qos"`
	Via      string `json:"via,omitempty"`
	Size     int    `json:"size,omitempty"`
	// Subscribers counts the subscriber connections measured.
	Subscribers int `json:"subscribers,omitempty"`
	// OfferedRate is the requested notifications per second; 0 means as fast as
	// the producers' windows allow (saturation).
	OfferedRate float64 `json:"offered_rate"`
	Seconds     float64 `json:"seconds,omitempty"`
	// Sent counts notifications acknowledged or answered by the server; SentRate is
	// Sent over the producing time, the load actually offered.
	Sent     int64   `json:"sent,omitempty"`
	SentRate float64 `json:"sent_rate,omitempty"`
	// Expected deliveries (each notification reaches its user, its org admin and the
	// system admin); Delivered counts marked messages received; Lost is
	// Expected - (Delivered - Duplicates); Duplicates counts messages whose sequence
	// number was not above the last one seen on their topic; Misrouted counts
	// messages on a topic the subscriber should not see.
	Expected         int64   `json:"expected,omitempty"`
	Delivered        int64   `json:"delivered,omitempty"`
	Lost             int64   `json:"lost,omitempty"`
	Duplicates       int64   `json:"duplicates,omitempty"`
	Misrouted        int64   `json:"misrouted,omitempty"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec,omitempty"`
	AvgBytes         float64 `json:"avg_bytes,omitempty"`
	// Latency percentiles in milliseconds: end to end for notifications, CONNECT to
	// SUBACK for connections.
	P50  float64 `json:"p50_ms,omitempty"`
	P90  float64 `json:"p90_ms,omitempty"`
	P99  float64 `json:"p99_ms,omitempty"`
	Max  float64 `json:"max_ms,omitempty"`
	Conn int     `json:"conns,omitempty"`
	// ConnectsPerSec counts upgrade + CONNECT/CONNACK + SUBSCRIBE/SUBACK per second.
	ConnectsPerSec float64 `json:"connects_per_sec,omitempty"`
	Failures       int64   `json:"failures,omitempty"`
	// Server resident memory (VmRSS) before and after, and their difference per
	// connection; ClientBytesPerConn is the same for this tool's own process.
	RSSBefore          int64   `json:"rss_before,omitempty"`
	RSSAfter           int64   `json:"rss_after,omitempty"`
	BytesPerConn       float64 `json:"bytes_per_conn,omitempty"`
	ClientBytesPerConn float64 `json:"client_bytes_per_conn,omitempty"`
	// ServerCPU and ToolCPU are the CPU seconds the server process and this tool
	// used during the step (from /proc/<pid>/stat): the server's cost per
	// notification or connect is less sensitive to a busy machine than rates are,
	// and the tool's shows whether it was the bottleneck.
	ServerCPU float64 `json:"server_cpu_s,omitempty"`
	ToolCPU   float64 `json:"tool_cpu_s,omitempty"`
	Note      string  `json:"note,omitempty"`
}

// cpuPer returns the server's CPU microseconds per unit of work (n units), or 0.
func (r *Result) cpuPer(n int64) float64 {
	if n <= 0 {
		return 0
	}
	return r.ServerCPU * 1e6 / float64(n)
}

// toolShare returns the tool's CPU use as a share of one core over the step.
func (r *Result) toolShare() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return 100 * r.ToolCPU / r.Seconds
}

// setLatency fills the percentiles from h.
func (r *Result) setLatency(h *Histogram) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.P50, r.P90, r.P99, r.Max = ms(h.Quantile(0.50)), ms(h.Quantile(0.90)), ms(h.Quantile(0.99)), ms(h.Max())
}

// column is one column of the text table.
type column struct {
	name string
	get  func(r *Result) string
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

func rate(v float64) string {
	if v == 0 {
		return "max"
	}
	return num(v)
}

// columnsFor returns the table columns of a scenario: only what it measures.
func columnsFor(scenario string) []column {
	switch scenario {
	case "fanout", "slow-consumer":
		return []column{
			{"target", func(r *Result) string { return r.Target }},
			{"step", func(r *Result) string { return r.Step }},
			{"qos", func(r *Result) string { return strconv.Itoa(r.QoS) }},
			{"offered/s", func(r *Result) string { return rate(r.OfferedRate) }},
			{"sent/s", func(r *Result) string { return num(r.SentRate) }},
			{"deliveries/s", func(r *Result) string { return num(r.DeliveriesPerSec) }},
			{"delivered", func(r *Result) string { return i64(r.Delivered) }},
			{"lost", func(r *Result) string { return i64(r.Lost) }},
			{"dup", func(r *Result) string { return i64(r.Duplicates) }},
			{"p50ms", func(r *Result) string { return num(r.P50) }},
			{"p90ms", func(r *Result) string { return num(r.P90) }},
			{"p99ms", func(r *Result) string { return num(r.P99) }},
			{"maxms", func(r *Result) string { return num(r.Max) }},
			{"bytes", func(r *Result) string { return num(r.AvgBytes) }},
			{"srv_us/msg", func(r *Result) string { return num(r.cpuPer(r.Sent)) }},
			{"tool_cpu%", func(r *Result) string { return num(r.toolShare()) }},
		}
	case "idle":
		return []column{
			{"target", func(r *Result) string { return r.Target }},
			{"conns", func(r *Result) string { return strconv.Itoa(r.Conn) }},
			{"connects/s", func(r *Result) string { return num(r.ConnectsPerSec) }},
			{"rss_before_MiB", func(r *Result) string { return num(float64(r.RSSBefore) / (1 << 20)) }},
			{"rss_after_MiB", func(r *Result) string { return num(float64(r.RSSAfter) / (1 << 20)) }},
			{"server_B/conn", func(r *Result) string { return num(r.BytesPerConn) }},
			{"tool_B/conn", func(r *Result) string { return num(r.ClientBytesPerConn) }},
			{"failures", func(r *Result) string { return i64(r.Failures) }},
		}
	case "connect-storm":
		return []column{
			{"target", func(r *Result) string { return r.Target }},
			{"workers", func(r *Result) string { return r.Step }},
			{"conns", func(r *Result) string { return strconv.Itoa(r.Conn) }},
			{"seconds", func(r *Result) string { return num(r.Seconds) }},
			{"connects/s", func(r *Result) string { return num(r.ConnectsPerSec) }},
			{"p50ms", func(r *Result) string { return num(r.P50) }},
			{"p99ms", func(r *Result) string { return num(r.P99) }},
			{"maxms", func(r *Result) string { return num(r.Max) }},
			{"failures", func(r *Result) string { return i64(r.Failures) }},
			{"srv_us/conn", func(r *Result) string { return num(r.cpuPer(int64(r.Conn))) }},
			{"tool_cpu%", func(r *Result) string { return num(r.toolShare()) }},
		}
	}
	return nil
}

// writeTable prints results as an aligned text table, then their notes.
func writeTable(w io.Writer, results []Result) {
	if len(results) == 0 {
		return
	}
	cols := columnsFor(results[0].Scenario)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t")+"\t")
	for i := range results {
		vals := make([]string, len(cols))
		for j, c := range cols {
			vals[j] = c.get(&results[i])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t")+"\t")
	}
	tw.Flush()
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(w, "note (%s %s): %s\n", r.Target, r.Step, r.Note)
		}
	}
}

// writeJSON prints one JSON object per result, one per line.
func writeJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
	}
	return nil
}
