package bench

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// A marker is written into every benchmark notification so that a subscriber can
// tell its own messages from herald's events (logins raise session/login
// notifications) and measure latency:
//
//	~bench~SS~TTTTTT~QQQQQQQQQQ~NNNNNNNNNNNNNNNNNNN~
//
// SS is the step of the run, TTTTTT the index of the topic, QQQQQQQQQQ the message's
// sequence number on that topic (from 1), and N… the send time in Unix nanoseconds.
// Fields are fixed-width decimal digits, so a producer rewrites them in place in a
// prepared message without allocating, and the marker never needs JSON escaping.
const (
	markerPrefix = "~bench~"
	markerLen    = len(markerPrefix) + 2 + 1 + 6 + 1 + 10 + 1 + 19 + 1
	// maxTopics and maxSteps are what the fixed widths can hold.
	maxTopics = 999999
	maxSteps  = 99
)

// Marker is the decoded content of a benchmark marker.
type Marker struct {
	Step   int
	Topic  int
	Seq    uint64
	SentNs int64
}

// errNoMarker means a message carries no benchmark marker.
var errNoMarker = errors.New("no benchmark marker")

// putMarker writes m into b[0:markerLen].
func putMarker(b []byte, m Marker) {
	copy(b, markerPrefix)
	i := len(markerPrefix)
	i = putDigits(b, i, uint64(m.Step), 2)
	b[i] = '~'
	i = putDigits(b, i+1, uint64(m.Topic), 6)
	b[i] = '~'
	i = putDigits(b, i+1, m.Seq, 10)
	b[i] = '~'
	i = putDigits(b, i+1, uint64(m.SentNs), 19)
	b[i] = '~'
}

// putDigits writes v as exactly n decimal digits at b[i:] and returns i+n.
func putDigits(b []byte, i int, v uint64, n int) int {
	for j := i + n - 1; j >= i; j-- {
		b[j] = byte('0' + v%10)
		v /= 10
	}
	return i + n
}

// parseMarker finds and decodes the marker in a delivered message.
func parseMarker(msg []byte) (Marker, error) {
	at := bytes.Index(msg, []byte(markerPrefix))
	if at < 0 || len(msg)-at < markerLen {
		return Marker{}, errNoMarker
	}
	b := msg[at+len(markerPrefix) : at+markerLen]
	var m Marker
	var ok [4]bool
	var v uint64
	v, ok[0] = digits(b[0:2])
	m.Step = int(v)
	v, ok[1] = digits(b[3:9])
	m.Topic = int(v)
	m.Seq, ok[2] = digits(b[10:20])
	v, ok[3] = digits(b[21:40])
	m.SentNs = int64(v)
	if ok != [4]bool{true, true, true, true} || b[2] != '~' || b[9] != '~' || b[20] != '~' || b[40] != '~' {
		return Marker{}, errNoMarker
	}
	return m, nil
}

// digits parses a run of decimal digits.
func digits(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// template is a prepared EVENT envelope for one topic, with room for a marker at a
// known offset; stamp rewrites the marker in place.
type template struct {
	topic  string
	msg    []byte
	marker int // offset of the marker in msg
}

// newEventTemplate builds a valid EVENT envelope (VCD-COMPAT §8.1, §8.2) for the user
// userID of org orgID, padded to about size bytes (never less than the envelope
// needs). The marker sits at the start of entityName, followed by padding letters, so
// the inner JSON needs no escaping and payload stays the last key.
func newEventTemplate(orgID, userID string, size int) template {
	const typ = "com/vmware/vcloud/event/user/modify"
	const ts = "2025-01-01T00:00:00.000+00:00"
	head := `{"type":"EVENT","headers":{` +
		`"notification.type":"` + typ + `",` +
		`"notification.entityType":"user",` +
		`"notification.entityUUID":"` + userID + `",` +
		`"notification.orgUUID":"` + orgID + `",` +
		`"notification.userUUID":"` + userID + `",` +
		`"notification.operationSuccess":"true"},"payload":"{` +
		`\"eventId\":\"00000000-0000-4000-8000-000000000000\",` +
		`\"type\":\"` + typ + `\",` +
		`\"timestamp\":\"` + ts + `\",` +
		`\"operationSuccess\":true,` +
		`\"user\":\"urn:vcloud:user:` + userID + `\",` +
		`\"org\":\"urn:vcloud:org:` + orgID + `\",` +
		`\"entity\":\"urn:vcloud:user:` + userID + `\",` +
		`\"entityName\":\"`
	tail := `\",\"entityType\":\"user\"}"}`
	pad := max(0, size-len(head)-markerLen-len(tail))
	var b strings.Builder
	b.Grow(len(head) + markerLen + pad + len(tail))
	b.WriteString(head)
	b.WriteString(strings.Repeat("m", markerLen))
	b.WriteString(strings.Repeat("x", pad))
	b.WriteString(tail)
	t := template{topic: "publish/" + orgID + "/" + userID, msg: []byte(b.String()), marker: len(head)}
	return t
}

// stamp writes m into the template's marker.
func (t *template) stamp(m Marker) { putMarker(t.msg[t.marker:], m) }

// externalEventBody returns the JSON body of POST /api/admin/org/{id}/events
// (VCD-COMPAT §8.3) for user userID, whose typeFull holds a marker and padding so
// that the resulting EXTERNAL_EVENT envelope is roughly size bytes. The caller
// rewrites the marker at the returned offset.
func externalEventBody(userID string, size int) (body []byte, marker int) {
	head := `{"type":"bench/notify","serviceNamespace":"org.example.bench","success":true,"typeFull":"`
	tail := `","user":{"id":"urn:vcloud:user:` + userID + `"}}`
	// The envelope herald builds around typeFull holds about 800 bytes of its own.
	const overhead = 800
	pad := max(0, size-overhead-markerLen)
	b := []byte(head + strings.Repeat("m", markerLen) + strings.Repeat("x", pad) + tail)
	return b, len(head)
}

// itoa is strconv.Itoa, for brevity.
func itoa(i int) string { return strconv.Itoa(i) }
