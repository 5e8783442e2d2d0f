package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/bench"
	"github.com/heraldmq/herald/internal/server"
	"github.com/heraldmq/herald/internal/servertest"
)

const adminPassword = "bench-admin-secret"

// MustRunServer starts a herald on a random loopback port (HTTPS, generated CA) with
// a fresh store and a fast password hash, and stops it when the test ends.
func MustRunServer(tb testing.TB) *server.Server {
	tb.Helper()
	return servertest.Run(tb, servertest.Config(tb.TempDir(), adminPassword))
}

// TestFanout_Herald runs a tiny fanout (2 orgs × 3 users, 20 notifications at QoS 1)
// against a real server, twice: the second run reuses the provisioned orgs, users
// and service account. Every notification must reach its user, its org admin and
// the system admin exactly once, and nobody else.
func TestFanout_Herald(t *testing.T) {
	s := MustRunServer(t)
	t.Setenv("HERALD_ADMIN_PASSWORD", adminPassword)
	for run := range 2 {
		var stdout, stderr bytes.Buffer
		args := []string{"fanout", "-url", s.URL(), "-cacert", s.CAFile(), "-orgs", "2", "-users", "3",
			"-qos", "1", "-rate", "10", "-duration", "2s", "-producers", "2", "-json"}
		if code := bench.Run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != 1 {
			t.Fatalf("run %d: want one result line, got %q", run, stdout.String())
		}
		var r bench.Result
		if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if r.Sent < 19 || r.Sent > 21 || r.Subscribers != 2*3+2+1 {
			t.Errorf("run %d: sent %d to %d subscribers; want about 20 to 9", run, r.Sent, r.Subscribers)
		}
		if r.Expected != 3*r.Sent || r.Delivered != r.Expected || r.Lost != 0 || r.Duplicates != 0 || r.Misrouted != 0 {
			t.Errorf("run %d: expected %d, delivered %d, lost %d, duplicates %d, misrouted %d; want all delivered once",
				run, r.Expected, r.Delivered, r.Lost, r.Duplicates, r.Misrouted)
		}
		if r.P50 <= 0 || r.Max < r.P99 || r.AvgBytes < 800 {
			t.Errorf("run %d: implausible figures: %+v", run, r)
		}
	}
}

// TestSlowConsumer_Herald runs the slow-consumer scenario against a running herald:
// its three phases, baseline, with a publish/# subscriber that never reads, and after
// it left, each deliver every notification to the fast subscribers once, and the
// stalled one is reported apart.
func TestSlowConsumer_Herald(t *testing.T) {
	s := MustRunServer(t)
	t.Setenv("HERALD_ADMIN_PASSWORD", adminPassword)
	var stdout, stderr bytes.Buffer
	args := []string{"slow-consumer", "-url", s.URL(), "-cacert", s.CAFile(), "-orgs", "2", "-users", "2",
		"-qos", "1", "-rate", "10", "-duration", "1s", "-producers", "1", "-drain", "2s", "-json"}
	if code := bench.Run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var steps []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r bench.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, r.Step)
		if r.Scenario != "slow-consumer" || r.Sent < 8 || r.Delivered != 3*r.Sent || r.Lost != 0 || r.Duplicates != 0 {
			t.Errorf("step %s: %s, sent %d, delivered %d, lost %d, duplicates %d; want every notification to the fast subscribers once",
				r.Step, r.Scenario, r.Sent, r.Delivered, r.Lost, r.Duplicates)
		}
		if (r.Step == "with-slow") != strings.HasPrefix(r.Note, "slow consumer") {
			t.Errorf("step %s: note %q", r.Step, r.Note)
		}
	}
	if want := []string{"baseline", "with-slow", "after"}; !slices.Equal(steps, want) {
		t.Errorf("steps %v; want %v", steps, want)
	}
}

func TestRun_Usage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"nope"}, 2},
		{[]string{"fanout", "-h"}, 0},
		{[]string{"fanout", "-target", "x"}, 2},
		{[]string{"fanout", "-target", "mosquitto", "-via", "rest"}, 2},
		{[]string{"idle", "-url", "http://192.0.2.1:8080"}, 2},
	} {
		var out, errOut bytes.Buffer
		t.Setenv("HERALD_ADMIN_PASSWORD", "whatever")
		if code := bench.Run(context.Background(), tc.args, &out, &errOut); code != tc.code {
			t.Errorf("Run(%q) = %d; want %d (%s)", tc.args, code, tc.code, errOut.String())
		}
	}
}
