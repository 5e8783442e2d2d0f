package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a concurrent reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCLI(t *testing.T, environ map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	e := env{stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
	code = e.run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestRun_ExitCodes(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badYAML, []byte("nosuchkey: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		inOut   string
		inError string
	}{
		{"no command", nil, nil, 2, "", "Usage:"},
		{"help", nil, []string{"help"}, 0, "Commands:", ""},
		{"unknown command", nil, []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", nil, []string{"version"}, 0, "herald ", ""},
		{"version stray argument", nil, []string{"version", "x"}, 2, "", "unexpected argument"},
		{"serve unknown flag", nil, []string{"serve", "-nope"}, 2, "", "flag provided but not defined"},
		{"serve -h", nil, []string{"serve", "-h"}, 0, "", "-data-dir"},
		{"check-config ok", nil, []string{"check-config"}, 0, "configuration ok", ""},
		{"check-config bad flag value", nil, []string{"check-config", "-log-level", "loud"}, 1, "", "log.level"},
		{"check-config bad env", map[string]string{"HERALD_ADDR": "nonsense"}, []string{"check-config"}, 1, "", "http.addr"},
		{"check-config flag beats env", map[string]string{"HERALD_ADDR": "nonsense"}, []string{"check-config", "-addr", "127.0.0.1:9443"}, 0, "configuration ok", ""},
		{"check-config unknown key in file", nil, []string{"check-config", "-config", badYAML}, 1, "", "nosuchkey"},
		{"check-config missing file", nil, []string{"check-config", "-config", filepath.Join(dir, "missing.yaml")}, 1, "", "missing.yaml"},
		{"serve invalid config", nil, []string{"serve", "-addr", ""}, 2, "", "invalid configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.env, tc.args...)
			if code != tc.code {
				t.Errorf("exit code = %d; want %d (stderr %q)", code, tc.code, errOut)
			}
			if !strings.Contains(out, tc.inOut) {
				t.Errorf("stdout = %q; want it to contain %q", out, tc.inOut)
			}
			if !strings.Contains(errOut, tc.inError) {
				t.Errorf("stderr = %q; want it to contain %q", errOut, tc.inError)
			}
		})
	}
}

func TestServe_StartsAndStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	var out, errb syncBuffer
	e := env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- e.run(ctx, []string{"serve", "-data-dir", dir, "-addr", "127.0.0.1:0", "-log-format", "json"})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(errb.String(), "herald ready") {
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not become ready: %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a log with a deadline, not synchronising
	}
	// Without HERALD_ADMIN_PASSWORD the password is generated and shown once, on
	// stdout, and never in the log.
	const prefix = "Created administrator@System with password: "
	i := strings.Index(out.String(), prefix)
	if i < 0 {
		t.Fatalf("stdout does not show the generated password: %q", out.String())
	}
	pw, _, _ := strings.Cut(out.String()[i+len(prefix):], "\n")
	if len(pw) < 16 || strings.Contains(errb.String(), pw) {
		t.Errorf("generated password %q is short or was logged", pw)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls", "ca.pem")); err != nil {
		t.Errorf("no generated CA: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit code after cancel = %d; want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	if !strings.Contains(errb.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped log line: %s", errb.String())
	}
}
