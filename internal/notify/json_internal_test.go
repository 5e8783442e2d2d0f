package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"testing"
)

// encodingJSON returns v as encoding/json writes it with SetEscapeHTML(false).
func encodingJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"Plain", "alice", `"alice"`},
		{"HTMLStaysLiteral", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
		{"QuoteBackslash", `a"b\c`, `"a\"b\\c"`},
		{"Controls", "\b\f\n\r\t\x00\x1f", `"\b\f\n\r\t\u0000\u001f"`},
		{"InvalidUTF8", "a\xffb", `"a\ufffdb"`},
		{"LineSeparators", "\u2028\u2029", `"\u2028\u2029"`},
		{"Unicode", "héllo 日本 😀", `"héllo 日本 😀"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := appendString(nil, tc.in); string(got) != tc.want {
				t.Errorf("appendString(%q) = %s; want %s", tc.in, got, tc.want)
			}
			if got := appendString(nil, []byte(tc.in)); string(got) != tc.want {
				t.Errorf("appendString([]byte %q) = %s; want %s", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzAppendString checks that appendString writes what encoding/json writes without
// HTML escaping, for strings and byte slices.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a<b>&c", "\"\\", "\x00\x7f\x80", "\u2028", "é\xc3", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := encodingJSON(t, s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s; encoding/json: %s", s, got, want)
		}
		if got := appendString([]byte("x"), []byte(s)); !bytes.Equal(got[1:], want) {
			t.Errorf("appendString([]byte %q) = %s; encoding/json: %s", s, got[1:], want)
		}
	})
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 33.7, 61.2, 10485760, 1e20, 1e21, 1e-6, 1e-7, 123.456e-10, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		if got, want := appendFloat(nil, f), encodingJSON(t, f); !bytes.Equal(got, want) {
			t.Errorf("appendFloat(%v) = %s; encoding/json: %s", f, got, want)
		}
	}
}

func TestAppendCanonicalJSON(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"Compacts", " { \"a\" : [ 1 , 2.0e3 , { } , [ ] ] , \"b\" : null } ", `{"a":[1,2.0e3,{},[]],"b":null}`},
		{"KeepsOrderAndDuplicates", `{"b":1,"a":2,"b":3}`, `{"b":1,"a":2,"b":3}`},
		{"UnescapesHTML", `"\u003c\u0026\u003e"`, `"<&>"`},
		{"Scalar", ` true `, `true`},
		{"NestedStrings", `[{"k\n":"v\""}]`, `[{"k\n":"v\""}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := appendCanonicalJSON(nil, []byte(tc.in))
			if err != nil || string(got) != tc.want {
				t.Errorf("appendCanonicalJSON(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
	for _, in := range []string{"", "{", `{"a"}`, "[1,]", "1 2", `{"a":1}}`} {
		if got, err := appendCanonicalJSON(nil, []byte(in)); err == nil {
			t.Errorf("appendCanonicalJSON(%q) = %s; want an error", in, got)
		}
	}
	deep := bytes.Repeat([]byte("["), maxJSONDepth+1)
	deep = append(deep, bytes.Repeat([]byte("]"), maxJSONDepth+1)...)
	if _, err := appendCanonicalJSON(nil, deep); err == nil {
		t.Errorf("appendCanonicalJSON accepted nesting deeper than %d", maxJSONDepth)
	}
}

func TestContainsPayloadKey(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`payload":"`, true},
		{`xpayload":"x`, true},
		{`ppayload":"`, true},
		{`pay\load\":\"`, true},
		{`payload":`, false},
		{`payload" : "`, false},
		{`{"type":"EVENT","headers":{"a":"payload"`, false},
	}
	for _, tc := range tests {
		if got := containsPayloadKey([]byte(tc.in)); got != tc.want {
			t.Errorf("containsPayloadKey(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzCanonicalJSON checks the hand-written scanner against an oracle built on
// encoding/json's Decoder: both accept the same inputs and write the same bytes, and
// the canonical form is a fixed point.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e+3,true,false,null,{}]}`, `"\ud83d\ude00\ud800x\udc00"`, `"\u003c\/"`,
		" [ ] ", `{"a":1,"a":2}`, "\"\xff\xc3\"", `01`, `1.`, `-`, `[1,]`, `{"a" 1}`, "\"\x01\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := appendCanonicalJSON(nil, in)
		want, werr := appendCanonicalJSONTokens(nil, in)
		// ParseEnvelope and AppendEnvelope skip json.Valid on what the scanner accepted.
		if err == nil && !json.Valid(in) {
			t.Fatalf("appendCanonicalJSON accepted %q, which json.Valid refuses", in)
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("appendCanonicalJSON(%q) error %v; oracle error %v", in, err, werr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("appendCanonicalJSON(%q) = %s; oracle %s", in, got, want)
		}
		again, err := appendCanonicalJSON(nil, got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("canonical form of %q is not a fixed point: %s -> %s, %v", in, got, again, err)
		}
	})
}

// appendCanonicalJSONTokens is the reference for appendCanonicalJSON, built on
// encoding/json's token API.
func appendCanonicalJSONTokens(b, src []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	// Each entry is true for an object, false for an array; count is the number of
	// tokens written at that level, so that a key is followed by ':' and a value by ','.
	type level struct {
		object bool
		count  int
	}
	var stack []level
	sep := func() {
		if len(stack) == 0 {
			return
		}
		top := &stack[len(stack)-1]
		if top.count > 0 {
			if top.object && top.count%2 == 1 {
				b = append(b, ':')
			} else {
				b = append(b, ',')
			}
		}
		top.count++
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if len(stack) == maxJSONDepth {
					return nil, errJSONDepth
				}
				sep()
				stack = append(stack, level{object: v == '{'})
				b = append(b, byte(v))
			default:
				stack = stack[:len(stack)-1]
				b = append(b, byte(v))
			}
		case string:
			sep()
			b = appendString(b, v)
		case json.Number:
			sep()
			b = append(b, v...)
		case bool:
			sep()
			b = appendBool(b, v)
		case nil:
			sep()
			b = append(b, "null"...)
		}
		if len(stack) == 0 {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errJSONTrailing
	}
	return b, nil
}

// FuzzScannerString checks scanner.str against encoding/json's decoding of a JSON
// string, and the flag that lets appendLastString copy the input: sc.canon must be
// true exactly when the text between the quotes is appendString's output.
func FuzzScannerString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u0000\u001f\u001F\u0008\u0041"`,
		`"\u2028\u2029 "`, "\"\u2028\"", `"\ud83d\ude00\ud800\udc00x"`, `"\ud800\u0041"`, "\"\xff\xc3\"", `"\ufffd"`,
		"\"\xef\xbf\xbd\"", `"é日本😀"`, `"abcdefghijklmnopq\"rstuvwxyz0123456789"`, `"unterminated`, "\"\x01\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := scanner{s: in}
		got, err := sc.str()
		var want string
		werr := json.Unmarshal(in, &want)
		if err == nil && sc.i != len(in) {
			// str read a string and stopped; encoding/json sees trailing data.
			werr = json.Unmarshal(in[:sc.i], &want)
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("str(%q) error %v; encoding/json error %v", in, err, werr)
		}
		if err != nil {
			return
		}
		if string(got) != want {
			t.Fatalf("str(%q) = %q; encoding/json %q", in, got, want)
		}
		enc := appendString(nil, got)
		if canon := string(enc) == `"`+string(sc.raw)+`"`; sc.canon != canon {
			t.Fatalf("str(%q): canon = %v; appendString writes %s from raw %q", in, sc.canon, enc, sc.raw)
		}
		if b := sc.appendLastString([]byte("x"), got); !bytes.Equal(b[1:], enc) {
			t.Fatalf("appendLastString(%q) = %s; appendString %s", in, b[1:], enc)
		}
		for i := 0; i <= len(in); i++ {
			want := i
			for want < len(in) && plain[in[want]] {
				want++
			}
			if got := plainRun(in, i); got != want {
				t.Fatalf("plainRun(%q, %d) = %d; want %d", in, i, got, want)
			}
		}
	})
}
