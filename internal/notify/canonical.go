package notify

import (
	"bytes"
	"errors"

	"github.com/heraldmq/herald/internal/vcd"
)

// AppendCanonicalEnvelope checks a producer's envelope b as ParseEnvelope does and
// appends it to dst in canonical layout, the bytes Canonical(ParseEnvelope(b)) returns.
// It accepts and refuses exactly the inputs ParseEnvelope does, with the same errors,
// and leaves dst unchanged on error.
//
// It exists for the broker's hot path (every notification a producer publishes): it
// writes the canonical form straight from b, with no Envelope, no strings and, once
// the pooled scratch buffers are warm, no allocation beyond growing dst.
func AppendCanonicalEnvelope(dst, b []byte) ([]byte, error) {
	out, err := appendCanonicalEnvelope(dst, b)
	if err == nil {
		return out, nil
	}
	// Refusals are rare: take the error from ParseEnvelope so that both paths explain
	// a refusal the same way.
	if _, perr := ParseEnvelope(b); perr != nil {
		return dst, perr
	}
	// Unreachable while the two paths agree (FuzzCanonicalEnvelope checks they do).
	return dst, vcd.Wrap(vcd.CodeInvalid, err, "invalid envelope")
}

// CanonicalEnvelope is AppendCanonicalEnvelope into a new slice of exactly the
// canonical envelope's length, which the caller owns.
func CanonicalEnvelope(b []byte) ([]byte, error) {
	p := getBuf()
	out, err := AppendCanonicalEnvelope((*p)[:0], b)
	if err != nil {
		putBuf(p)
		return nil, err
	}
	c := make([]byte, len(out))
	copy(c, out)
	*p = out[:0]
	putBuf(p)
	return c, nil
}

var (
	errEnvelopeSyntax  = errors.New("malformed envelope")
	errEnvelopeKeys    = errors.New("envelope keys are not exactly type, headers and payload")
	errEnvelopeType    = errors.New("invalid envelope type")
	errEnvelopeHeaders = errors.New("invalid header name")
	errEnvelopeKey     = errors.New(`envelope type or headers contain the text payload":"`)
)

// appendCanonicalEnvelope is AppendCanonicalEnvelope with terse errors. One pass
// over the outer object checks its syntax and keys, keeps the type, writes the
// headers in canonical form into a pooled buffer and decodes the payload string
// (producers may send the keys in any order); then the parts are joined in canonical
// order, the payload canonicalized and embedded as a JSON string.
func appendCanonicalEnvelope(dst, b []byte) ([]byte, error) {
	sc := scanner{s: b}
	if !sc.expect('{') {
		return dst, errEnvelopeSyntax
	}
	// The payload decoded needs a buffer of its own, as later strings reuse scratch.
	pp := getBuf()
	defer putBuf(pp)
	sc.scratch = *pp
	hp := getBuf()
	defer putBuf(hp)
	var typBuf [maxTypeLen]byte
	var typ, headers, payload, payloadRaw []byte
	seenType, seenHeaders, seenPayload, payloadCanon := false, false, false, false
	for first := true; ; first = false {
		if first && sc.expect('}') {
			break
		}
		k, err := sc.str()
		if err != nil || !sc.expect(':') {
			return dst, errEnvelopeSyntax
		}
		switch string(k) {
		case "type":
			if seenType {
				return dst, errEnvelopeKeys
			}
			seenType = true
			v, err := sc.str()
			if err != nil || !validType(v) {
				return dst, errEnvelopeType
			}
			// A valid type is at most maxTypeLen bytes of A-Z, 0-9 and '_': its
			// canonical form is itself in quotes.
			typ = typBuf[:copy(typBuf[:], v)]
		case "headers":
			if seenHeaders {
				return dst, errEnvelopeKeys
			}
			seenHeaders = true
			var ok bool
			if headers, ok = appendHeaders((*hp)[:0], &sc); !ok {
				return dst, errEnvelopeHeaders
			}
			*hp = headers[:0]
		case "payload":
			if seenPayload {
				return dst, errEnvelopeKeys
			}
			seenPayload = true
			v, err := sc.str()
			if err != nil {
				return dst, errEnvelopeSyntax
			}
			payload, payloadRaw, payloadCanon = v, sc.raw, sc.canon
			if len(v) > 0 && len(sc.scratch) > 0 && &v[0] == &sc.scratch[0] {
				// v is in scratch: keep it there, and give later strings a new one.
				*pp = sc.scratch[:0]
				sc.scratch = nil
			}
		default:
			return dst, errEnvelopeKeys
		}
		if sc.expect(',') {
			continue
		}
		if sc.expect('}') {
			break
		}
		return dst, errEnvelopeSyntax
	}
	sc.ws()
	if sc.i != len(b) {
		return dst, errEnvelopeSyntax
	}
	if !seenType || !seenHeaders || !seenPayload {
		return dst, errEnvelopeKeys
	}

	start := len(dst)
	out := append(dst, `{"type":"`...)
	out = append(out, typ...)
	out = append(out, `","headers":{`...)
	out = append(out, headers...)
	if containsPayloadKey(out[start:]) {
		return dst, errEnvelopeKey
	}
	out = append(out, `},"payload":`...)
	ip := getBuf()
	defer putBuf(ip)
	inner, err := appendCanonicalJSON((*ip)[:0], payload)
	if err != nil {
		return dst, err
	}
	*ip = inner[:0]
	if payloadCanon && bytes.Equal(inner, payload) {
		// The usual case, a producer that sends canonical envelopes: the payload
		// string in b is already what appendString would write.
		out = append(out, '"')
		out = append(out, payloadRaw...)
		out = append(out, '"')
	} else {
		out = appendString(out, inner)
	}
	return append(out, '}'), nil
}

// appendHeaders appends the members of the headers object at the scanner's position
// in canonical form, and reports whether it is an object of string values whose names
// are 1 to maxHeaderNameLen bytes (decoded) and unique. Names are compared in their
// canonical encoding, which is one-to-one on decoded strings (always valid UTF-8).
func appendHeaders(b []byte, sc *scanner) ([]byte, bool) {
	if !sc.expect('{') {
		return b, false
	}
	if sc.expect('}') {
		return b, true
	}
	const linear = 32
	var spans [linear]struct{ from, to int }
	names := spans[:0]
	var seen map[string]struct{} // for many headers, instead of comparing pairs
	for {
		n, err := sc.str()
		if err != nil || len(n) == 0 || len(n) > maxHeaderNameLen {
			return b, false
		}
		if len(names) > 0 {
			b = append(b, ',')
		}
		from := len(b)
		b = sc.appendLastString(b, n)
		name := b[from:]
		if len(names) < linear {
			for _, o := range names {
				if bytes.Equal(b[o.from:o.to], name) {
					return b, false
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 2*linear)
				for _, o := range names {
					seen[string(b[o.from:o.to])] = struct{}{}
				}
			}
			if _, dup := seen[string(name)]; dup {
				return b, false
			}
			seen[string(name)] = struct{}{}
		}
		names = append(names, struct{ from, to int }{from, len(b)})
		if !sc.expect(':') {
			return b, false
		}
		b = append(b, ':')
		v, err := sc.str()
		if err != nil {
			return b, false
		}
		b = sc.appendLastString(b, v)
		if sc.expect(',') {
			continue
		}
		return b, sc.expect('}')
	}
}
