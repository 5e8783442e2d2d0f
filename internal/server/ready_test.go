package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/config"
)

// TestReady: GET /readyz is 503 before Open, 200 once serving, 503 when the live feed
// is not running, and 503 once Close has begun.
func TestReady(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Auth.AdminPassword = "ready-test-pw"
	cfg.Auth.PasswordCost = 4
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ready := func() (int, string) {
		rec := httptest.NewRecorder()
		s.serveReady(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	check := func(when string, wantCode int, wantBody string) {
		t.Helper()
		if code, body := ready(); code != wantCode || body != wantBody {
			t.Errorf("%s: %d %q; want %d %q", when, code, body, wantCode, wantBody)
		}
	}
	check("before Open", http.StatusServiceUnavailable, "not ready: not started\n")
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The feed starts on its own goroutine: wait for it through /readyz itself.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for code, _ := ready(); code != http.StatusOK && time.Now().Before(deadline); code, _ = ready() {
		<-tick.C
	}
	check("serving", http.StatusOK, "ready\n")
	s.feedRunning.Store(false)
	check("feed stopped", http.StatusServiceUnavailable, "not ready: the notification feed is not running\n")
	s.feedRunning.Store(true)
	s.stopping.Store(true)
	check("closing", http.StatusServiceUnavailable, "not ready: shutting down\n")
}
