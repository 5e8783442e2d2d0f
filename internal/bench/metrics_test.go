package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/bench"
)

// TestMetrics_Herald runs a short metrics scenario (2 orgs × 2 vApps × 3 VMs, 2 s
// interval, 3 s at 240 samples/s over 2 connections) against a real server, twice:
// the second run reuses the provisioned vApps. The counts must add up exactly: every
// sample posted is accepted, every accepted sample shows in the envelopes, and every
// envelope the tool can prove was due came, once, on its vApp's topic. The number of
// requests depends on the pacing keeping up, so it is only bounded.
func TestMetrics_Herald(t *testing.T) {
	s := MustRunServer(t)
	t.Setenv("HERALD_ADMIN_PASSWORD", adminPassword)
	for run := range 2 {
		var stdout, stderr bytes.Buffer
		args := []string{"metrics", "-url", s.URL(), "-cacert", s.CAFile(), "-orgs", "2", "-vapps", "2", "-vms", "3",
			"-batch", "3", "-conns", "2", "-rate", "240", "-duration", "3s", "-interval", "2s", "-json"}
		if code := bench.Run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != 1 {
			t.Fatalf("run %d: want one result line, got %q", run, stdout.String())
		}
		t.Logf("run %d: %s", run, lines[0])
		var r bench.MetricsResult
		if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if r.VApps != 4 || r.VMs != 12 || r.BatchSamples != 24 || r.Conns != 2 {
			t.Errorf("run %d: %d vApps, %d VMs, %d samples per batch, %d conns; want 4, 12, 24, 2",
				run, r.VApps, r.VMs, r.BatchSamples, r.Conns)
		}
		// 240 samples/s is 5 batches of 24 per second per sender: at most 15 each in
		// 3 s (at 0, 0.2, …, 2.8 s), fewer if an answer came late.
		if r.Requests < 2 || r.Requests > 30 || r.Sent != 24*r.Requests || r.Accepted != r.Sent || r.Rejected != 0 || r.Errors != 0 {
			t.Errorf("run %d: sent %d in %d requests, accepted %d, rejected %d, errors %d; want 24 per request, at most 30, all accepted (%s)",
				run, r.Sent, r.Requests, r.Accepted, r.Rejected, r.Errors, r.Note)
		}
		if r.Unreflected != 0 || r.Missed != 0 || r.EnvelopesExpected != r.EnvelopesReceived || r.EnvelopesReceived < 4 {
			t.Errorf("run %d: %d envelopes received, %d expected, %d missed, %d samples unreflected; want every sample in an envelope and none missed",
				run, r.EnvelopesReceived, r.EnvelopesExpected, r.Missed, r.Unreflected)
		}
		// Repeated envelopes are not checked: publication is at least once (package
		// metrics), so a VM may be published again with nothing new.
		if r.Duplicates != 0 || r.Stale != 0 || r.Misrouted != 0 || r.Other != 0 {
			t.Errorf("run %d: %d duplicate, %d stale, %d misrouted, %d other envelopes; want none (%s)",
				run, r.Duplicates, r.Stale, r.Misrouted, r.Other, r.Note)
		}
		if r.P50 <= 0 || r.Max < r.P99 || r.EnvelopeBytes < 1000 {
			t.Errorf("run %d: implausible figures: %+v", run, r)
		}
	}
}

// TestPerf_Metrics runs the metrics scenario at the scale (10,000 VMs,
// 100,000 samples/s offered) against an in-process server, for profiling the whole
// ingestion path with -cpuprofile; HERALD_PERF=1 enables it, HERALD_PERF_ARGS adds
// flags. CPU figures include the tool, which shares the process.
//
//	HERALD_PERF=1 go test ./internal/bench -run TestPerf_Metrics -v -cpuprofile /tmp/metrics.prof
func TestPerf_Metrics(t *testing.T) {
	if os.Getenv("HERALD_PERF") == "" {
		t.Skip("HERALD_PERF not set")
	}
	s := MustRunServer(t)
	t.Setenv("HERALD_ADMIN_PASSWORD", adminPassword)
	var stdout, stderr bytes.Buffer
	args := []string{"metrics", "-url", s.URL(), "-cacert", s.CAFile(), "-duration", "20s"}
	args = append(args, strings.Fields(os.Getenv("HERALD_PERF_ARGS"))...)
	if code := bench.Run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	t.Logf("\n%s", stdout.String())
}
