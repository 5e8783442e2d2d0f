package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Real clients of other languages, as VCD users run them (VCD-COMPAT §12): Debian's
// python3-paho-mqtt and the npm mqtt package. .ci/run installs both and sets
// HERALD_REQUIRE_CLIENTS=1, so there a missing client fails the test; elsewhere it is
// skipped with a note on how to install it.

const pythonPath = "/usr/bin/python3" // Debian's, where python3-paho-mqtt installs

func requireClient(t *testing.T, name string, check *exec.Cmd) {
	t.Helper()
	if out, err := check.CombinedOutput(); err != nil {
		msg := name + " is not installed (" + strings.TrimSpace(string(out)) + "); .ci/run installs it"
		if os.Getenv("HERALD_REQUIRE_CLIENTS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// scriptClient is a client process whose stdout lines arrive on a channel.
type scriptClient struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan error
}

// startScript runs name with args and extra environment variables env.
func startScript(t *testing.T, env []string, name string, args ...string) *scriptClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = &prefixWriter{t: t, prefix: filepath.Base(name) + ": "}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &scriptClient{cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	return c
}

// expect returns the next line, which must start with prefix.
func (c *scriptClient) expect(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatalf("client exited (%v) while waiting for %q", <-c.done, prefix)
		}
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("client said %q; want %q…", line, prefix)
		}
		return strings.TrimPrefix(line, prefix)
	case <-time.After(30 * time.Second):
		t.Fatalf("client said nothing within 30 s; want %q", prefix)
		return ""
	}
}

// exit waits for the process and returns its exit code.
func (c *scriptClient) exit(t *testing.T) int {
	t.Helper()
	for range c.lines { // drain
	}
	select {
	case err := <-c.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatal("client did not exit")
		return -1
	}
}

type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = (*prefixWriter)(nil)

func TestRealClients_PythonPaho(t *testing.T) {
	requireClient(t, "python3-paho-mqtt", exec.Command(pythonPath, "-c", "import paho.mqtt.client"))
	f := newFixture(t)
	ca := f.s.CAFile()
	script := filepath.Join("testdata", "clients", "vcd_listener.py")

	// A tenant user on its own topic; asking for publish/# too is refused (128) and
	// leaves the connection open. The org admin on publish/<org>/*.
	alice := startScript(t, nil, pythonPath, script, "--host", f.s.Addr(), "--user", "alice@acme", "--password", "pw-alice",
		"--cafile", ca, "--scope", "own", "--extra", "publish/#")
	if got := alice.expect(t, "READY "); !strings.HasSuffix(got, " 0 128") {
		t.Errorf("alice's granted QoS = %q; want own topic 0 and publish/# 128", got)
	}
	boss := startScript(t, nil, pythonPath, script, "--host", f.s.Addr(), "--user", "boss@acme", "--password", "pw-boss",
		"--cafile", ca, "--scope", "org")
	if got := boss.expect(t, "READY "); !strings.HasPrefix(got, "publish/"+f.orgs["acme"]+"/* ") || !strings.HasSuffix(got, " 0") {
		t.Errorf("boss's subscription = %q", got)
	}

	n := f.publishEvent(t, "alice@acme")
	for who, c := range map[string]*scriptClient{"alice": alice, "boss": boss} {
		var m struct {
			Topic string         `json:"topic"`
			Inner map[string]any `json:"inner"`
		}
		if err := json.Unmarshal([]byte(c.expect(t, "MESSAGE ")), &m); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		if m.Topic != n.Topic || m.Inner["eventId"] != n.ID || m.Inner["entityName"] != "alice" {
			t.Errorf("%s parsed %+v; want event %s on %s", who, m, n.ID, n.Topic)
		}
		if code := c.exit(t); code != 0 {
			t.Errorf("%s exited with %d", who, code)
		}
	}
}

func TestRealClients_NodeMQTT(t *testing.T) {
	dir := filepath.Join("testdata", "clients")
	requireClient(t, "node", exec.Command("node", "--version"))
	requireClient(t, "the npm mqtt package", exec.Command("test", "-d", filepath.Join(dir, "node_modules", "mqtt")))
	f := newFixture(t)
	script := filepath.Join(dir, "node_listener.mjs")
	run := func(args ...string) *scriptClient {
		return startScript(t, []string{"NODE_EXTRA_CA_CERTS=" + f.s.CAFile()}, "node",
			append([]string{script, "--host", f.s.Addr(), "--cafile", f.s.CAFile()}, args...)...)
	}

	bob := run("--user", "bob@beta", "--password", "pw-bob")
	if got := bob.expect(t, "READY "); !strings.HasSuffix(got, " 0") {
		t.Errorf("bob's subscription = %q", got)
	}
	f.publishEvent(t, "alice@acme") // not bob's: must not reach him
	n := f.publishEvent(t, "bob@beta")
	var m struct {
		Topic    string `json:"topic"`
		Envelope struct {
			Type    string            `json:"type"`
			Headers map[string]string `json:"headers"`
			Payload string            `json:"payload"`
		} `json:"envelope"`
	}
	if err := json.Unmarshal([]byte(bob.expect(t, "MESSAGE ")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Topic != n.Topic || m.Envelope.Type != "EVENT" || !strings.Contains(m.Envelope.Payload, n.ID) {
		t.Errorf("bob got %+v; want his event %s", m, n.ID)
	}
	if code := bob.exit(t); code != 0 {
		t.Errorf("node client exited with %d", code)
	}

	// Failure cases of §12.2 step 5: a wrong token, another user's token. The client
	// is refused with CONNACK 5 and exits cleanly instead of hanging.
	alice := f.login(t, "alice@acme")
	for name, args := range map[string][]string{
		"wrong token":        {"--user", "bob@beta", "--password", "pw-bob", "--token", "not-a-jwt"},
		"another user's JWT": {"--user", "bob@beta", "--password", "pw-bob", "--token", alice.token},
	} {
		c := run(args...)
		if got := c.expect(t, "CONNACK "); got != "5" {
			t.Errorf("%s: CONNACK %q; want 5", name, got)
		}
		if code := c.exit(t); code != 5 {
			t.Errorf("%s: exit code %d; want 5", name, code)
		}
	}
}
