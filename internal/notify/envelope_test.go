package notify_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      notify.Envelope
		canonical string
	}{
		{
			name:      "canonical",
			in:        `{"type":"EVENT","headers":{"a":"1"},"payload":"{\"x\":1}"}`,
			want:      notify.Envelope{Type: "EVENT", Headers: []notify.Header{{"a", "1"}}, Payload: []byte(`{"x":1}`)},
			canonical: `{"type":"EVENT","headers":{"a":"1"},"payload":"{\"x\":1}"}`,
		},
		{
			name:      "KeysReorderedAndSpaced",
			in:        " {\"payload\" : \"{ \\\"x\\\" : [1, 2.50, true, null] }\",\n \"headers\": {\"b\":\"2\", \"a\":\"1\"}, \"type\": \"TASK\"}\n",
			want:      notify.Envelope{Type: "TASK", Headers: []notify.Header{{"b", "2"}, {"a", "1"}}, Payload: []byte(`{"x":[1,2.50,true,null]}`)},
			canonical: `{"type":"TASK","headers":{"b":"2","a":"1"},"payload":"{\"x\":[1,2.50,true,null]}"}`,
		},
		{
			name:      "HTMLEscapesUndone",
			in:        `{"type":"EVENT","headers":{},"payload":"{\"s\":\"\\u003ca\\u003e \\u0026\"}"}`,
			want:      notify.Envelope{Type: "EVENT", Headers: []notify.Header{}, Payload: []byte(`{"s":"<a> &"}`)},
			canonical: `{"type":"EVENT","headers":{},"payload":"{\"s\":\"<a> &\"}"}`,
		},
		{
			name:      "ExtensionType",
			in:        `{"type":"EXTENSION_TASK","headers":{},"payload":"[]"}`,
			want:      notify.Envelope{Type: "EXTENSION_TASK", Headers: []notify.Header{}, Payload: []byte(`[]`)},
			canonical: `{"type":"EXTENSION_TASK","headers":{},"payload":"[]"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := notify.ParseEnvelope([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseEnvelope(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseEnvelope(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
			if c := notify.Canonical(got); string(c) != tc.canonical {
				t.Errorf("Canonical = %s; want %s", c, tc.canonical)
			}
		})
	}
}

func TestParseEnvelope_Rejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"Empty", ``},
		{"NotObject", `[]`},
		{"MissingType", `{"headers":{},"payload":"{}"}`},
		{"MissingHeaders", `{"type":"EVENT","payload":"{}"}`},
		{"MissingPayload", `{"type":"EVENT","headers":{}}`},
		{"UnknownKey", `{"type":"EVENT","headers":{},"payload":"{}","x":1}`},
		{"DuplicateKey", `{"type":"EVENT","type":"TASK","headers":{},"payload":"{}"}`},
		{"LowercaseType", `{"type":"event","headers":{},"payload":"{}"}`},
		{"EmptyType", `{"type":"","headers":{},"payload":"{}"}`},
		{"TypeNotString", `{"type":1,"headers":{},"payload":"{}"}`},
		{"HeaderNotString", `{"type":"EVENT","headers":{"a":true},"payload":"{}"}`},
		{"HeadersNull", `{"type":"EVENT","headers":null,"payload":"{}"}`},
		{"DuplicateHeader", `{"type":"EVENT","headers":{"a":"1","a":"2"},"payload":"{}"}`},
		{"EmptyHeaderName", `{"type":"EVENT","headers":{"":"1"},"payload":"{}"}`},
		{"PayloadNotString", `{"type":"EVENT","headers":{},"payload":{}}`},
		{"PayloadNotJSON", `{"type":"EVENT","headers":{},"payload":"{x"}`},
		{"PayloadTwoValues", `{"type":"EVENT","headers":{},"payload":"1 2"}`},
		{"TrailingData", `{"type":"EVENT","headers":{},"payload":"{}"} {}`},
		{"HeaderNamedPayload", `{"type":"EVENT","headers":{"payload":"x"},"payload":"{}"}`},
		{"HeaderValueHidesPayloadKey", `{"type":"EVENT","headers":{"a":"payload\":\"x"},"payload":"{}"}`},
		{"BackslashesHidePayloadKey", `{"type":"EVENT","headers":{"a":"pay\\load\":\"x"},"payload":"{}"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.ParseEnvelope([]byte(tc.in))
			if err == nil {
				t.Fatalf("ParseEnvelope(%q) succeeded; want an error", tc.in)
			}
			if !errors.Is(err, vcd.ErrInvalid) {
				t.Errorf("ParseEnvelope(%q) = %v; want code invalid", tc.in, err)
			}
		})
	}
}

func TestAppendEnvelope(t *testing.T) {
	dst := []byte("prefix")
	e := notify.Envelope{Type: "EVENT", Headers: []notify.Header{{"k", "<v>"}}, Payload: []byte(` {"a" : "\u00e9<&>"} `)}
	got, err := notify.AppendEnvelope(dst, e)
	if err != nil {
		t.Fatal(err)
	}
	want := `prefix{"type":"EVENT","headers":{"k":"<v>"},"payload":"{\"a\":\"é<&>\"}"}`
	if string(got) != want {
		t.Errorf("AppendEnvelope = %s; want %s", got, want)
	}

	bad := notify.Envelope{Type: "EVENT", Headers: []notify.Header{{"x.payload", "v"}}, Payload: []byte(`{}`)}
	got, err = notify.AppendEnvelope(dst, bad)
	if !errors.Is(err, vcd.ErrInvalid) || !bytes.Equal(got, dst) {
		t.Errorf("AppendEnvelope(header x.payload) = %q, %v; want dst unchanged and an invalid error", got, err)
	}
	if c := notify.Canonical(bad); c != nil {
		t.Errorf("Canonical(invalid) = %s; want nil", c)
	}
}

// FuzzParseEnvelope checks that parsing never panics, that the canonical form of an
// accepted envelope parses back to the same envelope, that Canonical is idempotent,
// and that the naive client of VCD-COMPAT §8.1 finds the payload key where a JSON
// parser does.
func FuzzParseEnvelope(f *testing.F) {
	for _, name := range []string{"event.golden", "external_event.golden", "task.golden", "metrics.golden"} {
		f.Add(MustGolden(f, name))
	}
	f.Add([]byte(`{"type":"EVENT","headers":{"a":"\u003c"},"payload":"{\"x\":\"\\u2028\"}"}`))
	f.Add([]byte(`{"payload":"[1,{}]","headers":{},"type":"X"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := notify.ParseEnvelope(b)
		if err != nil {
			if !errors.Is(err, vcd.ErrInvalid) {
				t.Fatalf("ParseEnvelope error %v is not code invalid", err)
			}
			return
		}
		c := notify.Canonical(e)
		if c == nil {
			t.Fatalf("Canonical(%+v) = nil for a parsed envelope", e)
		}
		e2, err := notify.ParseEnvelope(c)
		if err != nil {
			t.Fatalf("ParseEnvelope(Canonical) = %v\ncanonical: %s", err, c)
		}
		if diff := cmp.Diff(e, e2); diff != "" {
			t.Fatalf("envelope changed through Canonical (-first +second):\n%s", diff)
		}
		if c2 := notify.Canonical(e2); !bytes.Equal(c, c2) {
			t.Fatalf("Canonical not idempotent:\n%s\n%s", c, c2)
		}
		if !bytes.HasSuffix(c, []byte(`"}`)) {
			t.Fatalf("canonical envelope does not end with \"}: %s", c)
		}
		i := bytes.Index(bytes.ReplaceAll(c, []byte(`\`), nil), []byte(`payload":"`))
		j := bytes.LastIndex(c, []byte(`},"payload":"`))
		prefix := bytes.ReplaceAll(c[:j], []byte(`\`), nil)
		if i < 0 || i != len(prefix)+len(`},"`) {
			t.Fatalf("naive client finds payload\":\" at %d, want %d: %s", i, len(prefix)+3, c)
		}
	})
}
