package mqtt_test

import (
	"encoding/hex"
	"strings"
	"testing"
)

// mustHex decodes hex digits, ignoring spaces and '|' separators.
func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
