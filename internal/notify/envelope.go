package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/heraldmq/herald/internal/vcd"
)

// Envelope types (VCD-COMPAT §8.1). herald emits these four; producers may publish any
// type that passes ValidType, and clients ignore types they do not know.
const (
	TypeEvent         = "EVENT"
	TypeExternalEvent = "EXTERNAL_EVENT"
	TypeTask          = "TASK"
	TypeMetrics       = "METRICS"
)

// Header names (VCD-COMPAT §8.2–§8.4, §9.3), after VCD's AMQP header names.
const (
	HeaderType             = "notification.type"
	HeaderEntityType       = "notification.entityType"
	HeaderEntityUUID       = "notification.entityUUID"
	HeaderOrgUUID          = "notification.orgUUID"
	HeaderUserUUID         = "notification.userUUID"
	HeaderOperationSuccess = "notification.operationSuccess"
	HeaderTaskUUID         = "notification.taskUUID"
	HeaderServiceNamespace = "notification.serviceNamespace"
	HeaderTaskStatus       = "notification.taskStatus"
)

// Header is one envelope header. Values are always strings.
type Header struct {
	Name  string
	Value string
}

// Envelope is a notification message: {"type":…,"headers":{…},"payload":"…"}
// (VCD-COMPAT §8.1). Payload holds the inner JSON text, not yet embedded as a string.
type Envelope struct {
	Type    string
	Headers []Header
	Payload []byte
}

// Limits a producer's envelope must respect (HERALD).
const (
	maxTypeLen       = 64
	maxHeaderNameLen = 256
)

// ValidType reports whether typ may be an envelope type: 1 to 64 characters of
// A–Z, 0–9 and '_', starting with a letter, as all of VCD's types are (EVENT, TASK,
// EXTENSION_TASK, API_REQUEST, …).
func ValidType(typ string) bool { return validType(typ) }

func validType[S string | []byte](typ S) bool {
	if len(typ) == 0 || len(typ) > maxTypeLen || typ[0] < 'A' || typ[0] > 'Z' {
		return false
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// bufPool holds scratch buffers for inner payloads and envelopes. Buffers that grew
// beyond maxPooled are dropped so that one huge message does not pin memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxPooled = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(p *[]byte) {
	if cap(*p) > maxPooled {
		return
	}
	*p = (*p)[:0]
	bufPool.Put(p)
}

// envelopeWriter appends an envelope in canonical layout: begin, header (any number),
// then end with the payload. The fields before payload are checked by end.
type envelopeWriter struct {
	b       []byte
	start   int
	headers int
}

func (w *envelopeWriter) begin(dst []byte, typ string) {
	w.b, w.start, w.headers = dst, len(dst), 0
	w.b = append(w.b, `{"type":`...)
	w.b = appendString(w.b, typ)
	w.b = append(w.b, `,"headers":{`...)
}

func (w *envelopeWriter) header(name, value string) {
	if w.headers > 0 {
		w.b = append(w.b, ',')
	}
	w.headers++
	w.b = appendString(w.b, name)
	w.b = append(w.b, ':')
	w.b = appendString(w.b, value)
}

// end appends the payload, embedded as a JSON string, and closes the envelope. It
// returns an error, and dst unchanged, when the text before payload would contain
// payload":" once backslashes are removed (VCD-COMPAT §8.1 rule 3): the naive client
// looks for the first such text after deleting every backslash.
func (w *envelopeWriter) end(payload []byte) ([]byte, error) {
	if containsPayloadKey(w.b[w.start:]) {
		return w.b[:w.start], vcd.Errorf(vcd.CodeInvalid,
			`envelope type or headers contain the text payload":" (backslashes ignored)`)
	}
	w.b = append(w.b, `},"payload":`...)
	w.b = appendString(w.b, payload)
	w.b = append(w.b, '}')
	return w.b, nil
}

const payloadKey = `payload":"`

// containsPayloadKey reports whether b, with every backslash removed, contains
// payload":". The pattern's first byte occurs nowhere else in it, so a mismatch can
// restart the match at the current byte.
func containsPayloadKey(b []byte) bool {
	if bytes.IndexByte(b, '\\') < 0 {
		// The common case, no escapes: let the vectorized search do it.
		return bytes.Contains(b, []byte(payloadKey))
	}
	n := 0
	for _, c := range b {
		if c == '\\' {
			continue
		}
		if c == payloadKey[n] {
			n++
			if n == len(payloadKey) {
				return true
			}
			continue
		}
		n = 0
		if c == payloadKey[0] {
			n = 1
		}
	}
	return false
}

// Validate reports whether e can be sent: its type passes ValidType, header names are
// 1 to 256 bytes and unique, the text before payload does not contain payload":"
// (VCD-COMPAT §8.1 rule 3), and Payload is one JSON value. Errors have code
// vcd.CodeInvalid.
func (e Envelope) Validate() error {
	if err := e.validateFields(); err != nil {
		return err
	}
	if !json.Valid(e.Payload) {
		return vcd.Errorf(vcd.CodeInvalid, "invalid envelope: payload is not JSON text")
	}
	return e.checkPayloadKey()
}

// validateFields checks the type and the header names, the first checks of Validate.
func (e Envelope) validateFields() error {
	if !ValidType(e.Type) {
		return vcd.Errorf(vcd.CodeInvalid, "invalid envelope: type %q is not 1 to %d characters of A-Z, 0-9 and _ starting with a letter", e.Type, maxTypeLen)
	}
	for i, h := range e.Headers {
		if h.Name == "" || len(h.Name) > maxHeaderNameLen {
			return vcd.Errorf(vcd.CodeInvalid, "invalid envelope: header names must be 1 to %d bytes", maxHeaderNameLen)
		}
		for _, o := range e.Headers[:i] {
			if o.Name == h.Name {
				return vcd.Errorf(vcd.CodeInvalid, "invalid envelope: duplicate header %q", h.Name)
			}
		}
	}
	return nil
}

// checkPayloadKey is Validate's last check: the canonical text before payload must
// not contain payload":" (VCD-COMPAT §8.1 rule 3).
func (e Envelope) checkPayloadKey() error {
	p := getBuf()
	defer putBuf(p)
	var w envelopeWriter
	e.writeHeaders(&w, *p)
	b, err := w.end(nil)
	*p = b[:0]
	return err
}

func (e Envelope) writeHeaders(w *envelopeWriter, dst []byte) {
	w.begin(dst, e.Type)
	for _, h := range e.Headers {
		w.header(h.Name, h.Value)
	}
}

// AppendEnvelope validates e (see Validate) and appends it to dst in canonical layout
// (VCD-COMPAT §8.1): keys type, headers, payload; compact; no trailing newline; the
// payload re-encoded compact without HTML escaping and embedded as a JSON string. On
// error it returns dst unchanged.
func AppendEnvelope(dst []byte, e Envelope) ([]byte, error) {
	p := getBuf()
	defer putBuf(p)
	inner, err := appendCanonicalJSON((*p)[:0], e.Payload)
	if err != nil {
		// Rare: let Validate name the first problem, in its order, as it always did.
		if verr := e.Validate(); verr != nil {
			return dst, verr
		}
		return dst, vcd.Wrap(vcd.CodeInvalid, err, "invalid envelope: payload is not JSON text")
	}
	*p = inner[:0]
	// The payload canonicalized, so it is JSON text (the scanner accepts a subset of
	// what json.Valid accepts): the rest of Validate is these two checks, the second
	// made by end.
	if err := e.validateFields(); err != nil {
		return dst, err
	}
	var w envelopeWriter
	e.writeHeaders(&w, dst)
	return w.end(inner)
}

// Canonical returns e in canonical layout, as AppendEnvelope writes it. For an
// envelope from ParseEnvelope the result parses back to an equal Envelope, and
// Canonical of that is the same bytes. It returns nil if e is not valid (Validate).
func Canonical(e Envelope) []byte {
	p := getBuf()
	b, err := AppendEnvelope((*p)[:0], e)
	if err != nil {
		putBuf(p)
		return nil
	}
	// One right-sized allocation; the pooled buffer is reused.
	c := make([]byte, len(b))
	copy(c, b)
	*p = b[:0]
	putBuf(p)
	return c
}

// ParseEnvelope parses a producer's envelope (VCD-COMPAT §6.3, §7.3): one JSON object
// with exactly the keys type (a string passing ValidType), headers (an object of
// string values with unique names) and payload (a string holding one JSON value), in
// any order. The returned Payload is the inner JSON in canonical form. Errors have
// code vcd.CodeInvalid; the broker answers them with reason 0x99 or by closing the
// connection.
func ParseEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if err := parseEnvelope(b, &e); err != nil {
		return Envelope{}, vcd.Errorf(vcd.CodeInvalid, "invalid envelope: %v", err)
	}
	// Validate without json.Valid: parseEnvelope wrote Payload with the scanner, whose
	// output is always JSON text.
	if err := e.validateFields(); err != nil {
		return Envelope{}, err
	}
	if err := e.checkPayloadKey(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

func parseEnvelope(b []byte, e *Envelope) error {
	sp := getBuf()
	defer putBuf(sp)
	sc := scanner{s: b, scratch: *sp}
	defer func() { *sp = sc.scratch[:0] }() // keep the grown buffer, if it did
	if !sc.expect('{') {
		return fmt.Errorf("not a JSON object")
	}
	var seenType, seenHeaders, seenPayload bool
	for first := true; ; first = false {
		if first && sc.expect('}') {
			break
		}
		k, err := sc.str()
		if err != nil {
			return fmt.Errorf("malformed JSON at byte %d", sc.i)
		}
		if !sc.expect(':') {
			return fmt.Errorf("malformed JSON at byte %d", sc.i)
		}
		switch string(k) { // no allocation: the compiler compares the bytes
		case "type":
			if seenType {
				return fmt.Errorf("duplicate key type")
			}
			seenType = true
			v, err := sc.str()
			if err != nil {
				return fmt.Errorf("type is not a string")
			}
			e.Type = string(v)
		case "headers":
			if seenHeaders {
				return fmt.Errorf("duplicate key headers")
			}
			seenHeaders = true
			if err := parseHeaders(&sc, e); err != nil {
				return err
			}
		case "payload":
			if seenPayload {
				return fmt.Errorf("duplicate key payload")
			}
			seenPayload = true
			v, err := sc.str()
			if err != nil {
				return fmt.Errorf("payload is not a string")
			}
			// Canonicalized in a pooled buffer, then copied once at its final size.
			p := getBuf()
			inner, err := appendCanonicalJSON((*p)[:0], v)
			if err != nil {
				putBuf(p)
				return fmt.Errorf("payload is not JSON text: %v", err)
			}
			e.Payload = append([]byte(nil), inner...)
			*p = inner[:0]
			putBuf(p)
		default:
			return fmt.Errorf("unknown key %q", k)
		}
		if sc.expect(',') {
			continue
		}
		if sc.expect('}') {
			break
		}
		return fmt.Errorf("malformed JSON at byte %d", sc.i)
	}
	sc.ws()
	if sc.i != len(b) {
		return fmt.Errorf("data after the envelope")
	}
	switch {
	case !seenType:
		return fmt.Errorf("missing type")
	case !seenHeaders:
		return fmt.Errorf("missing headers")
	case !seenPayload:
		return fmt.Errorf("missing payload")
	}
	return nil
}

func parseHeaders(sc *scanner, e *Envelope) error {
	if !sc.expect('{') {
		return fmt.Errorf("headers is not an object")
	}
	if sc.expect('}') {
		e.Headers = []Header{}
		return nil
	}
	// Every name and value is decoded into one buffer, which becomes one string that
	// the headers slice: two allocations for all headers rather than two for each.
	p := getBuf()
	defer putBuf(p)
	text := (*p)[:0]
	var endsArr [32]int
	ends := endsArr[:0] // where each name, then each value, ends in text
	for {
		n, err := sc.str()
		if err != nil {
			return fmt.Errorf("malformed JSON at byte %d", sc.i)
		}
		from := len(text)
		text = append(text, n...)
		ends = append(ends, len(text))
		if !sc.expect(':') {
			return fmt.Errorf("malformed JSON at byte %d", sc.i)
		}
		v, err := sc.str()
		if err != nil {
			return fmt.Errorf("header %q is not a string", text[from:])
		}
		text = append(text, v...)
		ends = append(ends, len(text))
		if sc.expect(',') {
			continue
		}
		if sc.expect('}') {
			break
		}
		return fmt.Errorf("malformed JSON at byte %d", sc.i)
	}
	*p = text[:0]
	all := string(text)
	e.Headers = make([]Header, len(ends)/2)
	from := 0
	for i := range e.Headers {
		e.Headers[i] = Header{Name: all[from:ends[2*i]], Value: all[ends[2*i]:ends[2*i+1]]}
		from = ends[2*i+1]
	}
	return nil
}
