package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/config"
)

// TestDebugListener: http.debugAddr serves the runtime profiles on a listener of
// its own, and the main listener does not serve them.
func TestDebugListener(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = ""
	cfg.HTTP.PlainAddr = "127.0.0.1:0"
	cfg.HTTP.DebugAddr = "127.0.0.1:0"
	cfg.Auth.AdminPassword = "debug-test-pw"
	cfg.Auth.PasswordCost = 4
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if s.DebugURL() == "" {
		t.Fatal("no debug listener")
	}
	code, body := get(s.DebugURL() + "/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK || !strings.HasPrefix(body, "goroutine profile: total ") {
		t.Errorf("goroutine profile: %d %.80q", code, body)
	}
	if code, _ := get(s.PlainURL() + "/debug/pprof/goroutine?debug=1"); code == http.StatusOK {
		t.Error("the main listener serves profiles")
	}
}
