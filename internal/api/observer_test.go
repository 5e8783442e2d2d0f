package api_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/api"
)

// loginRecorder is an api.Observer that keeps the login results it is given.
type loginRecorder struct {
	mu     sync.Mutex
	logins []string
}

func (o *loginRecorder) Request(string, int, time.Duration) {}

func (o *loginRecorder) Login(kind, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.logins = append(o.logins, kind+" "+result)
}

// TestObserver_Logins: every login attempt, at each endpoint, is reported once
// with its result.
func TestObserver_Logins(t *testing.T) {
	obs := &loginRecorder{}
	env := mustServe(t, func(c *apiConfig) { c.LoginRateLimit = 4; c.Observer = obs })
	env.do(t, "POST", "/cloudapi/1.0.0/sessions", "", basic("alice@acme", password))
	env.do(t, "POST", "/cloudapi/1.0.0/sessions", "", basic("alice@acme", "wrong"))
	env.do(t, "POST", "/api/sessions", "", basic("alice@acme", password), "Accept: application/*+xml;version=36.0")
	env.do(t, "POST", "/cloudapi/1.0.0/sessions", "", "Authorization: Basic !!")
	env.do(t, "POST", "/cloudapi/1.0.0/sessions", "", basic("alice@acme", password)) // the fifth attempt
	want := []string{
		api.LoginCloudAPI + " " + api.LoginSuccess,
		api.LoginCloudAPI + " " + api.LoginFailure,
		api.LoginLegacy + " " + api.LoginSuccess,
		api.LoginCloudAPI + " " + api.LoginFailure, // malformed Basic credentials
		api.LoginCloudAPI + " " + api.LoginRateLimited,
	}
	if diff := cmp.Diff(want, obs.logins); diff != "" {
		t.Errorf("logins (-want +got):\n%s", diff)
	}
}
