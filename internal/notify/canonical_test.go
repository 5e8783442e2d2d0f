package notify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// referenceCanonical is what the broker did before AppendCanonicalEnvelope existed,
// the reference the fast path must match: parse, then re-encode.
func referenceCanonical(b []byte) ([]byte, error) {
	e, err := notify.ParseEnvelope(b)
	if err != nil {
		return nil, err
	}
	c := notify.Canonical(e)
	if c == nil {
		return nil, errors.New("Canonical refused a parsed envelope")
	}
	return c, nil
}

// checkCanonicalEnvelope fails unless AppendCanonicalEnvelope and CanonicalEnvelope
// accept b exactly when the reference does, with the same error text, and write the
// same bytes; and unless dst is left unchanged on error and extended otherwise.
func checkCanonicalEnvelope(t *testing.T, b []byte) {
	t.Helper()
	want, werr := referenceCanonical(b)
	got, err := notify.CanonicalEnvelope(b)
	if (err == nil) != (werr == nil) {
		t.Fatalf("CanonicalEnvelope(%q) error %v; reference error %v", b, err, werr)
	}
	if err != nil {
		if err.Error() != werr.Error() || !errors.Is(err, vcd.ErrInvalid) {
			t.Fatalf("CanonicalEnvelope(%q) error %q; reference %q", b, err, werr)
		}
	} else if !bytes.Equal(got, want) {
		t.Fatalf("CanonicalEnvelope(%q) =\n%s\nreference\n%s", b, got, want)
	}
	dst := []byte("prefix")
	out, err := notify.AppendCanonicalEnvelope(dst, b)
	switch {
	case err != nil && !bytes.Equal(out, dst):
		t.Fatalf("AppendCanonicalEnvelope(%q) = %q on error; want dst unchanged", b, out)
	case err == nil && (string(out[:6]) != "prefix" || !bytes.Equal(out[6:], want)):
		t.Fatalf("AppendCanonicalEnvelope(%q) = %s; want prefix%s", b, out, want)
	}
}

func TestCanonicalEnvelope(t *testing.T) {
	inputs := []string{
		`{"type":"EVENT","headers":{"a":"1"},"payload":"{\"x\":1}"}`,
		" {\"payload\" : \"{ \\\"x\\\" : [1, 2.50, true, null] }\",\n \"headers\": {\"b\":\"2\", \"a\":\"1\"}, \"type\": \"TASK\"}\n",
		`{"type":"EVENT","headers":{},"payload":"{\"s\":\"\\u003ca\\u003e \\u0026\"}"}`,
		`{"headers":{"a\u0062":"\u00e9\ud83d\ude00\ud800","b":"x\"y"},"type":"EV\u0045NT","payload":"\"\\ud800\\u2028\u2029 \\/\""}`,
		`{"type":"X","headers":{"é":"\u0000\u001f"},"payload":"[]"}`,
		"{\"type\":\"X\",\"headers\":{\"a\xff\":\"\xc3\"},\"payload\":\"\\\"\xed\xa0\x80\\\"\"}",
		`{"payload":"1","type":"X","headers":{}}`,
		`{"typ\u0065":"X","headers":{},"payload":"1"}`,
		`{"type":"X","headers":{"a":"1","\u0061":"2"},"payload":"1"}`,
		`{"type":"X","headers":{"` + strings.Repeat("n", 256) + `":"1"},"payload":"1"}`,
		`{"type":"X","headers":{"` + strings.Repeat("n", 257) + `":"1"},"payload":"1"}`,
		`{"type":"X","headers":{"` + strings.Repeat("é", 128) + `":"1"},"payload":"1"}`,
		`{"type":"X","headers":{"` + strings.Repeat("\\u00e9", 129) + `":"1"},"payload":"1"}`,
		`{"type":"X","headers":{"p":"pay\\load\":\"x"},"payload":"1"}`,
		`{"type":"X","headers":{},"payload":"` + strings.Repeat("[", 256) + strings.Repeat("]", 256) + `"}`,
		`{"type":"X","headers":{},"payload":"` + strings.Repeat("[", 257) + strings.Repeat("]", 257) + `"}`,
		`{"type":"X","headers":{},"payload":"{x"}`,
		`{"type":"X","headers":{},"payload":"1 2"}`,
		`{"type":"X","headers":{},"payload":"{}"} {}`,
		`{"type":"X","headers":{},"payload":"{}","x":1}`,
		`{"type":"X","type":"X","headers":{},"payload":"{}"}`,
		`{"type":"X","headers":{},"payload":"{}","payload":"{}"}`,
		`{"type":"X","headers":{},"headers":{},"payload":"{}"}`,
		`{"type":"X","headers":null,"payload":"{}"}`,
		`{"type":"X","headers":{"a":1},"payload":"{}"}`,
		`{"type":"X","headers":{"a":"1",},"payload":"{}"}`,
		`{"type":"x","headers":{},"payload":"{}"}`,
		`{"type":"X","headers":{}}`,
		`{}`, ``, `[]`, `{"type":"X",`,
	}
	// Many headers take the map path for duplicates.
	var many strings.Builder
	for i := 0; i < 100; i++ {
		many.WriteString(`"h` + strings.Repeat("x", i) + `":"v",`)
	}
	inputs = append(inputs,
		`{"type":"X","headers":{`+many.String()+`"z":"v"},"payload":"1"}`,
		`{"type":"X","headers":{`+many.String()+`"hxxx":"v"},"payload":"1"}`)
	for _, name := range []string{"event.golden", "external_event.golden", "task.golden", "metrics.golden"} {
		inputs = append(inputs, string(MustGolden(t, name)))
	}
	accepted := 0
	for _, in := range inputs {
		checkCanonicalEnvelope(t, []byte(in))
		if _, err := notify.CanonicalEnvelope([]byte(in)); err == nil {
			accepted++
		}
	}
	// Guard against a test that only ever compares two refusals.
	if accepted < 10 || accepted > len(inputs)-10 {
		t.Errorf("%d of %d inputs accepted; the table should exercise both outcomes", accepted, len(inputs))
	}
	for _, name := range []string{"event.golden", "task.golden"} {
		msg := MustGolden(t, name)
		if got, err := notify.CanonicalEnvelope(msg); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("CanonicalEnvelope(%s) = %s, %v; want the golden bytes", name, got, err)
		}
	}
}

// FuzzCanonicalEnvelope is the differential check of the fast path: for any input,
// AppendCanonicalEnvelope accepts exactly what ParseEnvelope accepts, with the same
// error, and writes exactly Canonical(ParseEnvelope(input)).
func FuzzCanonicalEnvelope(f *testing.F) {
	for _, name := range []string{"event.golden", "external_event.golden", "task.golden", "metrics.golden"} {
		f.Add(MustGolden(f, name))
	}
	f.Add([]byte(`{"type":"EVENT","headers":{"a":"\u003c"},"payload":"{\"x\":\"\\u2028\"}"}`))
	f.Add([]byte(`{"payload":"[1,{}]","headers":{"b":"1","a":"2"},"type":"X"}`))
	f.Add([]byte(`{"headers":{"a\u0062":"\ud83d\ude00"},"type":"EV\u0045NT","payload":"\"\\ud800\u2029\\/\""}`))
	f.Add([]byte("{\"type\":\"X\",\"headers\":{\"a\xff\":\"\xc3\"},\"payload\":\"\\\"\xed\xa0\x80\\\"\"}"))
	f.Add([]byte(`{"type":"X","headers":{"a":"1","\u0061":"2"},"payload":"1"}`))
	f.Add([]byte(`{"type":"X","headers":{"p":"pay\\load\":\"x"},"payload":"1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkCanonicalEnvelope(t, b)
	})
}

// randomJSONString writes a JSON string literal of random text, each character
// spelled at random: literally or as one of the escapes a producer may use.
func randomJSONString(r *rand.Rand) string {
	pieces := []string{"a", "Z", "0", " ", "<", "&", "/", "é", "日", "😀", "\u2028", "\x7f", "payload", `":"`, "\xff"}
	var b strings.Builder
	b.WriteByte('"')
	for n := r.IntN(8); n > 0; n-- {
		switch r.IntN(12) {
		case 0:
			b.WriteString([]string{`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`}[r.IntN(8)])
		case 1:
			b.WriteString([]string{`\u0000`, `\u001f`, `\u001F`, `\u0008`, `\u0041`, `\u003c`, `\u00e9`, `\u2028`,
				`\u2029`, `\ud83d\ude00`, `\ud800`, `\udc00x`, `\uFFFD`, `\u0022`, `\u005c`}[r.IntN(15)])
		default:
			p := pieces[r.IntN(len(pieces))]
			if p == `":"` {
				p = `\":\"`
			}
			b.WriteString(p)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// randomJSONValue writes a random JSON value with random white space.
func randomJSONValue(r *rand.Rand, depth int) string {
	ws := func() string { return []string{"", "", " ", "\n\t"}[r.IntN(4)] }
	switch k := r.IntN(7); {
	case k == 0 && depth < 4:
		var parts []string
		for n := r.IntN(4); n > 0; n-- {
			parts = append(parts, ws()+randomJSONString(r)+ws()+":"+ws()+randomJSONValue(r, depth+1)+ws())
		}
		return "{" + strings.Join(parts, ",") + ws() + "}"
	case k == 1 && depth < 4:
		var parts []string
		for n := r.IntN(4); n > 0; n-- {
			parts = append(parts, ws()+randomJSONValue(r, depth+1)+ws())
		}
		return "[" + strings.Join(parts, ",") + ws() + "]"
	case k == 2:
		return []string{"0", "-1.50", "2e+3", "1E-7", "true", "false", "null"}[r.IntN(7)]
	default:
		return randomJSONString(r)
	}
}

// TestCanonicalEnvelope_Random compares the fast path with the reference on random
// envelopes: keys in any order, white space, escapes of every kind in the type,
// header names and values and in the payload's strings, and sometimes a defect.
func TestCanonicalEnvelope_Random(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 42))
	accepted := 0
	const n = 3000
	for i := 0; i < n; i++ {
		ws := func() string { return []string{"", "", " ", "\r\n"}[r.IntN(4)] }
		typ := []string{`"EVENT"`, `"TASK"`, `"EV\u0045NT"`, `"X_1"`, `"event"`, `""`, `1`}[r.IntN(7)]
		var headers []string
		for k := r.IntN(5); k > 0; k-- {
			name := []string{`"a"`, `"b"`, `"\u0061"`, `"notification.type"`, `""`}[r.IntN(5)]
			if r.IntN(2) == 0 {
				name = randomJSONString(r)
			}
			headers = append(headers, ws()+name+ws()+":"+ws()+randomJSONString(r))
		}
		payload, err := json.Marshal(randomJSONValue(r, 0))
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(4) == 0 {
			// Re-spell the payload string itself: HTML escapes, or \/ for a slash.
			payload = bytes.ReplaceAll(payload, []byte("/"), []byte(`\/`))
		}
		members := []string{
			`"type"` + ws() + ":" + ws() + typ,
			`"headers":{` + strings.Join(headers, ",") + ws() + "}",
			`"payload":` + ws() + string(payload),
		}
		r.Shuffle(len(members), func(a, b int) { members[a], members[b] = members[b], members[a] })
		if r.IntN(20) == 0 {
			members = members[1:]
		}
		in := ws() + "{" + ws() + strings.Join(members, ","+ws()) + ws() + "}" + ws()
		checkCanonicalEnvelope(t, []byte(in))
		if _, err := notify.CanonicalEnvelope([]byte(in)); err == nil {
			accepted++
		}
	}
	if accepted < n/10 || accepted > n-n/10 {
		t.Errorf("%d of %d random envelopes accepted; the generator should give both outcomes", accepted, n)
	}
}
