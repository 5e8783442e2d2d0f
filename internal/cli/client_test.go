package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/server"
	"github.com/heraldmq/herald/internal/servertest"
)

func TestClientCommands_UsageErrors(t *testing.T) {
	cfgDir := t.TempDir()
	environ := map[string]string{"XDG_CONFIG_HOME": cfgDir}
	tests := []struct {
		name    string
		args    []string
		code    int
		inError string
	}{
		{"login without user", []string{"login"}, 2, "login: missing argument"},
		{"login not user@org", []string{"login", "alice"}, 2, `"alice" is not user@org`},
		{"login two users", []string{"login", "a@b", "c@d"}, 2, `unexpected argument "c@d"`},
		{"login bad url", []string{"login", "-url", "localhost:8443", "a@b"}, 2, "must start with https://"},
		{"login -h", []string{"login", "-h"}, 0, "Usage: herald login [flags] user@org"},
		{"logout stray argument", []string{"logout", "x"}, 2, "unexpected argument"},
		{"tail unknown flag", []string{"tail", "-nope"}, 2, "flag provided but not defined"},
		{"tail -h", []string{"tail", "-h"}, 0, "-persistent"},
		{"orgs without subcommand", []string{"orgs"}, 2, "create, delete, list"},
		{"orgs unknown subcommand", []string{"orgs", "frob"}, 2, `unknown subcommand "frob"`},
		{"orgs create without name", []string{"orgs", "create"}, 2, "missing argument"},
		{"orgs create -h", []string{"orgs", "create", "-h"}, 0, "-display-name"},
		{"users create without role", []string{"users", "create", "bob@acme"}, 2, "-role is required"},
		{"users create not user@org", []string{"users", "create", "bob", "--role", "vApp User"}, 2, "is not user@org"},
		{"users delete not user@org", []string{"users", "delete", "bob@"}, 2, "is not user@org"},
		{"service-accounts create without name", []string{"service-accounts", "create", "--producer"}, 2, "missing argument"},
		{"token without subcommand", []string{"token"}, 2, "create, list, revoke"},
		{"token revoke without id", []string{"token", "revoke"}, 2, "missing argument"},
		{"event without post", []string{"event"}, 2, "want a subcommand: post"},
		{"event post missing flags", []string{"event", "post", "--org", "acme"}, 2, "-type, -namespace required"},
		{"event post bad property", []string{"event", "post", "--org", "a", "--type", "t", "--namespace", "n", "--property", "x"}, 2, `"x" is not name=value`},
		{"task create missing flags", []string{"task", "create", "--name", "task"}, 2, "-org, -operation, -namespace required"},
		{"task update without status", []string{"task", "update", "123"}, 2, "-status is required"},
		{"task update bad progress", []string{"task", "update", "123", "--status", "running", "--progress", "101"}, 2, "not between 0 and 100"},
		{"task update without id", []string{"task", "update", "--status", "running"}, 2, "missing argument"},
		// Not usage errors: no stored login is a runtime error (1).
		{"orgs list not logged in", []string{"orgs", "list"}, 1, "not logged in"},
		{"tail not logged in", []string{"tail"}, 1, "not logged in"},
		{"logout not logged in", []string{"logout"}, 1, "not logged in"},
		{"login without password", []string{"login", "a@b"}, 1, "set HERALD_PASSWORD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, environ, tc.args...)
			if code != tc.code {
				t.Errorf("herald %s: exit code = %d; want %d (stderr %q)", strings.Join(tc.args, " "), code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.inError) {
				t.Errorf("herald %s: stderr = %q; want it to contain %q", strings.Join(tc.args, " "), errOut, tc.inError)
			}
		})
	}
}

func TestFormatNotification(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 31, 2, 500e6, time.UTC)
	tests := []struct {
		name, envelope, want string
	}{
		{
			"EVENT",
			`{"type":"EVENT","headers":{"notification.type":"com/vmware/vcloud/event/session/login","notification.entityType":"user","notification.entityUUID":"4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f","notification.orgUUID":"7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b","notification.userUUID":"4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f","notification.operationSuccess":"true"},"payload":"{\"eventId\":\"3b7e2d41-9f0a-4c6b-8d1e-5a2f6c7b8e90\",\"type\":\"com/vmware/vcloud/event/session/login\",\"timestamp\":\"2025-03-14T09:26:53.589+00:00\",\"operationSuccess\":true,\"user\":\"urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f\",\"org\":\"urn:vcloud:org:7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b\",\"entity\":\"urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f\",\"entityName\":\"alice\",\"entityType\":\"user\"}"}`,
			"2025-03-14T09:26:53.589Z EVENT session/login user/alice success",
		},
		{
			"failed EVENT with offset",
			`{"type":"EVENT","headers":{},"payload":"{\"type\":\"com/vmware/vcloud/event/session/login\",\"timestamp\":\"2025-03-14T10:26:53.589+01:00\",\"operationSuccess\":false,\"entityName\":\"alice\",\"entityType\":\"user\"}"}`,
			"2025-03-14T09:26:53.589Z EVENT session/login user/alice failure",
		},
		{
			"TASK with progress",
			`{"type":"TASK","headers":{"notification.entityType":"task","notification.taskStatus":"running"},"payload":"{\"otherAttributes\":{},\"href\":\"https://vcd.example.com/api/task/9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\",\"type\":\"application/vnd.vmware.vcloud.task+json\",\"id\":\"urn:vcloud:task:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\",\"operationKey\":null,\"description\":null,\"tasks\":null,\"name\":\"task\",\"owner\":{\"href\":\"https://vcd.example.com/api/vApp/vm-8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e\",\"id\":\"urn:vcloud:vm:8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e\",\"type\":\"application/vnd.vmware.vcloud.vm+xml\",\"name\":\"web-01\"},\"error\":null,\"progress\":40,\"details\":\"\",\"result\":null,\"status\":\"running\",\"operation\":\"Backing up VM web-01\",\"operationName\":\"backupInProgress\",\"serviceNamespace\":\"org.example.backup\",\"startTime\":\"2025-03-14T09:30:00.000+0000\",\"endTime\":null,\"cancelRequested\":false}"}`,
			`2025-03-14T09:31:02.500Z TASK backupInProgress vm/web-01 running 40% "Backing up VM web-01" id=9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d`,
		},
		{
			"TASK without owner",
			`{"type":"TASK","headers":{},"payload":"{\"id\":\"urn:vcloud:task:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\",\"name\":\"nightly\",\"owner\":null,\"progress\":100,\"status\":\"success\",\"operation\":\"\",\"operationName\":\"\"}"}`,
			`2025-03-14T09:31:02.500Z TASK - task/nightly success 100% id=9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d`,
		},
		{
			"EXTERNAL_EVENT",
			`{"type":"EXTERNAL_EVENT","headers":{"notification.type":"backup/completed","notification.entityType":"vm","notification.entityUUID":"8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e","notification.orgUUID":"7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b","notification.userUUID":"4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f","notification.operationSuccess":"true","notification.serviceNamespace":"org.example.backup"},"payload":"{\"eventId\":\"c2a4e6f8-1b3d-4f5a-8c7e-9d0b2f4a6c8e\",\"type\":\"backup/completed\",\"timestamp\":\"2025-03-14T09:40:00.000+00:00\",\"operationSuccess\":true,\"user\":\"urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f\",\"org\":\"urn:vcloud:org:7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b\",\"entity\":\"urn:vcloud:vm:8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e\",\"entityName\":\"web-01\",\"entityType\":\"vm\",\"serviceNamespace\":\"org.example.backup\",\"description\":\"Backup of web-01 finished\",\"properties\":{\"sizeGB\":\"42\"}}"}`,
			`2025-03-14T09:40:00.000Z EXTERNAL_EVENT backup/completed vm/web-01 success "Backup of web-01 finished"`,
		},
		{
			"METRICS",
			`{"type":"METRICS","headers":{"notification.entityType":"vApp","notification.entityUUID":"2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c","notification.orgUUID":"7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"},"payload":"{\"vApp\":\"urn:vcloud:vapp:2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c\",\"org\":\"urn:vcloud:org:7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b\",\"timestamp\":\"2025-03-14T09:35:00.000+00:00\",\"vms\":[{\"id\":\"urn:vcloud:vm:8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e\",\"name\":\"web-01\",\"metrics\":[{\"name\":\"cpu.usage.average\",\"unit\":\"PERCENT\",\"value\":33.7,\"timestamp\":\"2025-03-14T09:35:00.000+00:00\"},{\"name\":\"mem.usage.average\",\"unit\":\"PERCENT\",\"value\":61.2,\"timestamp\":\"2025-03-14T09:35:00.000+00:00\"},{\"name\":\"disk.used.latest\",\"unit\":\"KILOBYTE\",\"value\":10485760,\"timestamp\":\"2025-03-14T09:35:00.000+00:00\"}]}]}"}`,
			"2025-03-14T09:35:00.000Z METRICS - vApp/2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c - vms=1 values=3",
		},
		{
			"unknown type",
			`{"type":"API_REQUEST","headers":{"notification.type":"x/y","notification.entityType":"vm","notification.entityUUID":"8c6a"},"payload":"{}"}`,
			"2025-03-14T09:31:02.500Z API_REQUEST x/y vm/8c6a -",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := formatNotification([]byte(tc.envelope), now)
			if err != nil {
				t.Fatalf("formatNotification: %v", err)
			}
			if got != tc.want {
				t.Errorf("formatNotification =\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{`not json`, `{"type":"EVENT","payload":"{broken"}`} {
		if _, err := formatNotification([]byte(bad), now); err == nil {
			t.Errorf("formatNotification(%q): no error", bad)
		}
	}
}

func TestBackoff_BoundedAndJittered(t *testing.T) {
	for n := 0; n < 40; n++ {
		want := min(backoffMin<<min(n, 16), backoffMax)
		for range 20 {
			if d := backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v; want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestCredentials_FileMode(t *testing.T) {
	dir := t.TempDir()
	e := env{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		return map[string]string{"XDG_CONFIG_HOME": dir}[k]
	}}
	want := credentials{URL: "https://h:1", User: "alice", Org: "acme", Token: "a.b.c", Expiry: time.Unix(1741944413, 0).UTC()}
	// Twice: the second write replaces the file and must keep the modes.
	for range 2 {
		path, err := e.saveCredentials(want)
		if err != nil {
			t.Fatal(err)
		}
		if path != filepath.Join(dir, "herald", "credentials.json") {
			t.Errorf("credentials path = %s", path)
		}
		for p, mode := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != mode {
				t.Errorf("mode of %s = %v; want %v", p, fi.Mode(), mode)
			}
		}
	}
	got, err := e.loadCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("loadCredentials = %+v; want %+v", got, want)
	}
	if err := e.removeCredentials(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.loadCredentials(); err != errNotLoggedIn {
		t.Errorf("after remove, loadCredentials error = %v; want errNotLoggedIn", err)
	}
}

// mustRunServer starts a server on a random loopback port with a fresh store, a
// known administrator password and a fast password hash, stopped when the test ends.
func mustRunServer(tb testing.TB) *server.Server {
	tb.Helper()
	return servertest.Run(tb, servertest.Config(tb.TempDir(), "admin-secret-1"))
}

// waitFor polls cond until it holds or the deadline passes: it reads output written
// by another goroutine, so it polls rather than synchronises.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEndToEnd_LoginTailTask(t *testing.T) {
	s := mustRunServer(t)
	environ := map[string]string{
		"XDG_CONFIG_HOME":     t.TempDir(),
		"HERALD_PASSWORD":     "admin-secret-1",
		"HERALD_NEW_PASSWORD": "alice-secret-1",
	}
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, environ, args...)
		if code != 0 {
			t.Fatalf("herald %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	loginOut := run("login", "-url", s.URL(), "-cacert", s.CAFile(), "administrator@System")
	if !strings.Contains(loginOut, "Logged in as administrator@System") {
		t.Errorf("login output = %q", loginOut)
	}
	cr, err := env{getenv: func(k string) string { return environ[k] }}.loadCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if cr.URL != s.URL() || cr.Token == "" || !cr.Expiry.After(time.Now()) {
		t.Errorf("stored credentials: url %q, token set %v, expiry %v", cr.URL, cr.Token != "", cr.Expiry)
	}
	if strings.Contains(loginOut, cr.Token) {
		t.Error("login printed the token")
	}

	run("orgs", "create", "acme", "--display-name", "Acme Corporation")
	if out := run("orgs", "list"); !strings.Contains(out, "Acme Corporation") {
		t.Errorf("orgs list = %q; want acme", out)
	}
	run("users", "create", "alice@acme", "--role", "vApp Author")
	if out := run("users", "list", "--org", "acme", "--json"); !strings.Contains(out, `"username": "alice"`) {
		t.Errorf("users list --org acme --json = %q; want alice", out)
	}

	// tail --json as the sysadmin (publish/#), until cancelled.
	var tailOut, tailErr syncBuffer
	te := env{stdout: &tailOut, stderr: &tailErr, getenv: func(k string) string { return environ[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- te.run(ctx, []string{"tail", "--json"}) }()
	waitFor(t, "tail to subscribe", func() bool {
		select {
		case code := <-done:
			t.Fatalf("tail exited early with %d: %s", code, tailErr.String())
		default:
		}
		return strings.Contains(tailErr.String(), "herald: subscribed")
	})
	if !strings.Contains(tailErr.String(), "tailing publish/# as administrator@System") {
		t.Errorf("tail stderr = %q; want the sysadmin's filter publish/#", tailErr.String())
	}

	out := run("task", "create", "--org", "acme", "--operation", "Backing up VM web-01", "--name", "task",
		"--namespace", "org.example.backup", "--user", "alice")
	var id string
	if _, err := fmt.Sscanf(out, "Created task %36s", &id); err != nil {
		t.Fatalf("task create output %q: %v", out, err)
	}
	if out := run("task", "update", id, "--status", "running", "--progress", "50"); !strings.Contains(out, "running 50%") {
		t.Errorf("task update output = %q", out)
	}

	// Both TASK messages reach tail, as raw envelopes.
	var statuses []string
	waitFor(t, "the TASK messages", func() bool {
		statuses = statuses[:0]
		for _, line := range strings.Split(strings.TrimSpace(tailOut.String()), "\n") {
			var env envelope
			if json.Unmarshal([]byte(line), &env) != nil || env.Type != "TASK" ||
				env.Headers["notification.taskUUID"] != id {
				continue
			}
			var task struct {
				Status   string `json:"status"`
				Progress int    `json:"progress"`
			}
			if err := json.Unmarshal([]byte(env.Payload), &task); err != nil {
				t.Fatalf("TASK payload %q: %v", env.Payload, err)
			}
			statuses = append(statuses, fmt.Sprintf("%s %d", task.Status, task.Progress))
		}
		return len(statuses) >= 2
	})
	if want := []string{"queued 0", "running 50"}; !slices.Equal(statuses, want) {
		t.Errorf("TASK messages seen by tail = %q; want %q", statuses, want)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("tail exit code after cancel = %d; want 0 (stderr %s)", code, tailErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tail did not stop after cancel")
	}

	run("logout")
	if code, _, errOut := runCLI(t, environ, "orgs", "list"); code != 1 || !strings.Contains(errOut, "not logged in") {
		t.Errorf("orgs list after logout: exit %d, stderr %q; want 1, not logged in", code, errOut)
	}
}

// A session revoked while tail runs closes its MQTT connection; the reconnection's
// upgrade gets 401 and tail exits 1 with a hint to log in again.
func TestEndToEnd_TailExitsWhenSessionRevoked(t *testing.T) {
	s := mustRunServer(t)
	environ := map[string]string{"XDG_CONFIG_HOME": t.TempDir(), "HERALD_PASSWORD": "admin-secret-1"}
	if code, _, errOut := runCLI(t, environ, "login", "-url", s.URL(), "-cacert", s.CAFile(), "administrator@System"); code != 0 {
		t.Fatalf("login: exit %d: %s", code, errOut)
	}
	var tailOut, tailErr syncBuffer
	te := env{stdout: &tailOut, stderr: &tailErr, getenv: func(k string) string { return environ[k] }}
	done := make(chan int, 1)
	go func() { done <- te.run(context.Background(), []string{"tail", "--persistent"}) }()
	waitFor(t, "tail to subscribe", func() bool { return strings.Contains(tailErr.String(), "herald: subscribed") })
	if code, _, errOut := runCLI(t, environ, "logout"); code != 0 {
		t.Fatalf("logout: exit %d: %s", code, errOut)
	}
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(tailErr.String(), "run 'herald login' again") {
			t.Errorf("tail after logout: exit %d, stderr %q; want 1 and a login hint", code, tailErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("tail did not exit after its session was revoked: %s", tailErr.String())
	}
}
