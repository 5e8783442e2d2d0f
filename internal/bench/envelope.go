package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
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
// known offset; stamp rewrites the marker, and the event id, in place.
type template struct {
	topic   string
	msg     []byte
	marker  int // offset of the marker in msg
	eventID int // offset of the eventId's UUID in msg
}

// newRunID returns the 10 random hex digits that make a run's event ids its own
// (eventID), so that a second run against the same server is not taken for a retry.
func newRunID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// eventID lays out an event id of run (10 hex digits): step and topic in the
// first group, the sequence number in the last, all written by stamp.
func eventID(run string) string {
	return "00000000-" + run[:4] + "-4" + run[4:7] + "-8" + run[7:10] + "-000000000000"
}

// newEventTemplate builds a valid EVENT envelope (VCD-COMPAT §8.1, §8.2) for the user
// userID of org orgID, padded to about size bytes (never less than the envelope
// needs). The marker sits at the start of entityName, followed by padding letters, so
// the inner JSON needs no escaping and payload stays the last key. Each stamped
// message has its own eventId, from run (newRunID), its step, topic and sequence
// number: as from a real producer, every event gets its own audit record, where one
// id for all would have the audit trail store the first and skip the rest as retries.
func newEventTemplate(orgID, userID, run string, size int) template {
	const typ = "com/vmware/vcloud/event/user/modify"
	const ts = "2025-01-01T00:00:00.000+00:00"
	head := `{"type":"EVENT","headers":{` +
		`"notification.type":"` + typ + `",` +
		`"notification.entityType":"user",` +
		`"notification.entityUUID":"` + userID + `",` +
		`"notification.orgUUID":"` + orgID + `",` +
		`"notification.userUUID":"` + userID + `",` +
		`"notification.operationSuccess":"true"},"payload":"{` +
		`\"eventId\":\"` + eventID(run) + `\",` +
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
	t := template{topic: "publish/" + orgID + "/" + userID, msg: []byte(b.String()), marker: len(head),
		eventID: strings.Index(head, eventID(run))}
	return t
}

// stamp writes m into the template's marker, and its step, topic and sequence number
// into the event id.
func (t *template) stamp(m Marker) {
	putMarker(t.msg[t.marker:], m)
	id := t.msg[t.eventID:]
	putDigits(id, 0, uint64(m.Step), 2)
	putDigits(id, 2, uint64(m.Topic), 6)
	putDigits(id, 24, m.Seq, 12)
}

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
