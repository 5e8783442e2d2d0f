package api

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// rawSample is one sample of a POST /metrics/samples body as sent. Its strings may be
// substrings of the whole body: keep none of them without strings.Clone.
type rawSample struct {
	vm, name, unit, timestamp string
	value                     float64
	hasValue                  bool // false for an absent value
}

// decodeSamples reads the body of POST /metrics/samples like decodeJSON does (415
// for another media type, 400 for an empty, oversized or malformed body), into raw
// samples. limit is the body limit the request's reader enforces.
//
// Why not encoding/json alone: at 100,000 samples per second it was the largest cost
// of ingestion (five allocations per sample and two passes over the bytes; see
// docs/PERFORMANCE.md). scanSamples reads the usual form of the body in one pass with
// one allocation per batch; anything else it leaves to encoding/json, so that every
// body decodes, or fails, exactly as it did with encoding/json alone.
func decodeSamples(r *http.Request, limit int64) ([]rawSample, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
			return nil, vcd.Errorf(vcd.CodeUnsupportedMedia, "The request body must be application/json.")
		}
	}
	// The body is read into a string, whose substrings the samples are: one
	// allocation of the announced length, up to limit (the request's MaxBytesReader
	// bound), so that a client cannot make the server allocate more by announcing
	// more than it sends.
	var sb strings.Builder
	if n := min(r.ContentLength, limit); n > 0 {
		sb.Grow(int(n))
	}
	if _, err := io.Copy(&sb, r.Body); err != nil {
		return nil, bodyError(err)
	}
	body := sb.String()
	if strings.TrimSpace(body) == "" {
		return nil, vcd.Errorf(vcd.CodeInvalid, "The request body is empty.")
	}
	if out, ok := scanSamples(body); ok {
		return out, nil
	}
	var req samplesRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		return nil, &vcd.Error{Code: vcd.CodeInvalid, Message: "The request body is not valid JSON for this resource.", Err: err}
	}
	out := make([]rawSample, len(req.Samples))
	for i, s := range req.Samples {
		out[i] = rawSample{vm: s.VM, name: s.Name, unit: s.Unit, timestamp: s.Timestamp}
		if s.Value != nil {
			out[i].value, out[i].hasValue = *s.Value, true
		}
	}
	return out, nil
}

// scanSamples decodes body when it has the usual form: {"samples":[…]} whose
// elements are objects with only the keys vm, name, unit and timestamp (strings of
// printable ASCII without escapes) and value (a number), in any order, with JSON
// whitespace anywhere between tokens. It reports false for anything else, valid JSON
// or not (other keys, other cases of these keys, escapes, null, non-ASCII, a number
// out of range, a syntax error); the caller then decodes with encoding/json.
func scanSamples(body string) ([]rawSample, bool) {
	sc := sampleScanner{s: body}
	if !sc.byte('{') || !sc.key("samples") || !sc.byte('[') {
		return nil, false
	}
	// Every element opens a brace; beyond maxSamples+1 elements, which groupSamples
	// rejects, the rest is only checked.
	out := make([]rawSample, 0, min(strings.Count(body, "{")-1, maxSamples+1))
	if sc.peek() == ']' {
		sc.i++
	} else {
		for {
			s, ok := sc.sample()
			if !ok {
				return nil, false
			}
			if len(out) <= maxSamples {
				out = append(out, s)
			}
			c := sc.peek()
			sc.i++
			if c == ']' {
				break
			}
			if c != ',' {
				return nil, false
			}
		}
	}
	if !sc.byte('}') {
		return nil, false
	}
	sc.ws()
	return out, sc.i == len(sc.s)
}

// sampleScanner is the state of scanSamples: the body and the read offset.
type sampleScanner struct {
	s string
	i int
}

// ws skips JSON whitespace.
func (sc *sampleScanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (sc *sampleScanner) peek() byte {
	sc.ws()
	if sc.i >= len(sc.s) {
		return 0
	}
	return sc.s[sc.i]
}

// byte consumes c after optional whitespace.
func (sc *sampleScanner) byte(c byte) bool {
	if sc.peek() != c {
		return false
	}
	sc.i++
	return true
}

// str consumes a string of printable ASCII without escapes and returns its content.
func (sc *sampleScanner) str() (string, bool) {
	if !sc.byte('"') {
		return "", false
	}
	start := sc.i
	for ; sc.i < len(sc.s); sc.i++ {
		c := sc.s[sc.i]
		if c == '"' {
			sc.i++
			return sc.s[start : sc.i-1], true
		}
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	return "", false
}

// key consumes the object key name and its colon.
func (sc *sampleScanner) key(name string) bool {
	k, ok := sc.str()
	return ok && k == name && sc.byte(':')
}

// number consumes a JSON number (RFC 8259 §6) and returns its value; false when
// there is none or it is out of float64's range.
func (sc *sampleScanner) number() (float64, bool) {
	sc.ws()
	s, start := sc.s, sc.i
	i := start
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(s[start:i], 64)
	if err != nil {
		return 0, false
	}
	sc.i = i
	return v, true
}

// sample consumes one element of samples. A repeated key takes its last value, as
// with encoding/json.
func (sc *sampleScanner) sample() (rawSample, bool) {
	var s rawSample
	if !sc.byte('{') {
		return s, false
	}
	if sc.peek() == '}' {
		sc.i++
		return s, true
	}
	for {
		k, ok := sc.str()
		if !ok || !sc.byte(':') {
			return s, false
		}
		switch k {
		case "vm":
			s.vm, ok = sc.str()
		case "name":
			s.name, ok = sc.str()
		case "unit":
			s.unit, ok = sc.str()
		case "timestamp":
			s.timestamp, ok = sc.str()
		case "value":
			s.value, ok = sc.number()
			s.hasValue = true
		default:
			ok = false
		}
		if !ok {
			return s, false
		}
		switch sc.peek() {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return s, true
		default:
			return s, false
		}
	}
}
