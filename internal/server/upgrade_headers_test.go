package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebSocketUpgrade_Headers checks VCD-COMPAT §11.3 on the WebSocket
// upgrade: its 101 carries X-VMWARE-VCLOUD-REQUEST-ID (prefixed with a valid
// X-VMWARE-VCLOUD-CLIENT-REQUEST-ID) and the execution time, as every other
// response does.
func TestWebSocketUpgrade_Headers(t *testing.T) {
	s := MustRunServer(t, testConfig(t.TempDir()))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, s)}}
	uuid := `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
	for _, tc := range []struct {
		clientID string
		want     *regexp.Regexp
	}{
		{"", regexp.MustCompile(`^` + uuid + `$`)},
		{"dashboard-7", regexp.MustCompile(`^dashboard-7-` + uuid + `$`)},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h := http.Header{}
		if tc.clientID != "" {
			h.Set("X-VMWARE-VCLOUD-CLIENT-REQUEST-ID", tc.clientID)
		}
		wc, resp, err := websocket.Dial(ctx, "wss://"+s.Addr()+"/messaging/mqtt",
			&websocket.DialOptions{HTTPClient: hc, HTTPHeader: h, Subprotocols: []string{"mqtt"}})
		cancel()
		if err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		_ = wc.CloseNow()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d; want 101", resp.StatusCode)
		}
		if got := resp.Header.Get("X-VMWARE-VCLOUD-REQUEST-ID"); !tc.want.MatchString(got) {
			t.Errorf("client request id %q: X-VMWARE-VCLOUD-REQUEST-ID %q in the 101; want %v", tc.clientID, got, tc.want)
		}
		if ms, err := strconv.Atoi(resp.Header.Get("X-VMWARE-VCLOUD-REQUEST-EXECUTION-TIME")); err != nil || ms < 0 {
			t.Errorf("X-VMWARE-VCLOUD-REQUEST-EXECUTION-TIME %q in the 101", resp.Header.Get("X-VMWARE-VCLOUD-REQUEST-EXECUTION-TIME"))
		}
	}
}
