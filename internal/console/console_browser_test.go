package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/server"
)

// The browser tests drive the console in Debian's headless Chromium with the npm
// package playwright-core (testdata/browser, installed by `npm ci` there). .ci/run
// installs both and sets HERALD_REQUIRE_CLIENTS=1, so there a missing one fails the
// test; elsewhere it is skipped with a note on how to install it. HERALD_SCREENSHOTS=dir
// makes the script save console-*.png there (docs/ holds the ones in the README).

const defaultChromium = "/usr/bin/chromium"

var browserDir = filepath.Join("testdata", "browser")

// requireBrowser skips (or, with HERALD_REQUIRE_CLIENTS=1, fails) the test unless node,
// Chromium and playwright-core are installed; it returns Chromium's path.
func requireBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	chromium := os.Getenv("HERALD_CHROMIUM")
	if chromium == "" {
		chromium = defaultChromium
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(chromium); err != nil {
		missing = "Chromium is not installed at " + chromium + " (apt-get install chromium)"
	} else if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core")); err != nil {
		missing = "playwright-core is not installed (npm ci in internal/console/testdata/browser)"
	}
	if missing != "" {
		msg := missing + "; .ci/run installs it"
		if os.Getenv("HERALD_REQUIRE_CLIENTS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return chromium
}

// browserScript is test.mjs running against one server: commands go to its stdin,
// its answers come back line by line.
type browserScript struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
	done  chan error
}

// startBrowser runs test.mjs with Chromium at chromium (from requireBrowser), which
// opens the console of s and logs in as user.
func startBrowser(t *testing.T, chromium string, s *server.Server, user, password string) *browserScript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "node", "test.mjs", s.URL(), user, password)
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "HERALD_CHROMIUM="+chromium)
	if dir := os.Getenv("HERALD_SCREENSHOTS"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, "HERALD_SCREENSHOTS="+abs)
	}
	cmd.Stderr = logWriter{t}
	cmd.WaitDelay = 10 * time.Second // a leftover grandchild must not hold the pipes open
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &browserScript{t: t, stdin: stdin, lines: make(chan string, 64), done: make(chan error, 1)}
	// The reader ends when the script closes stdout, at its exit; Cleanup waits for it.
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
		b.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // ends the command loop: the script closes Chromium and exits
		for range b.lines {
		}
		<-b.done
	})
	return b
}

// send writes one command line to the script.
func (b *browserScript) send(format string, args ...any) {
	b.t.Helper()
	if _, err := fmt.Fprintf(b.stdin, format+"\n", args...); err != nil {
		b.t.Fatalf("send to the browser script: %v", err)
	}
}

// expect returns the rest of the script's next line, which must start with prefix.
// The script bounds each of its waits (20 s), so this deadline only catches a hang.
func (b *browserScript) expect(prefix string) string {
	b.t.Helper()
	select {
	case line, ok := <-b.lines:
		if !ok {
			b.t.Fatalf("browser script exited (%v) while waiting for %q", <-b.done, prefix)
		}
		if !strings.HasPrefix(line, prefix) {
			b.t.Fatalf("browser script said %q; want %q…", line, prefix)
		}
		return strings.TrimPrefix(line, prefix)
	case <-time.After(90 * time.Second):
		b.t.Fatalf("browser script said nothing within 90 s; want %q", prefix)
		return ""
	}
}

// quit ends the script and requires a clean exit (no page errors or CSP violations).
func (b *browserScript) quit() {
	b.t.Helper()
	b.send("QUIT")
	b.expect("BYE")
	_ = b.stdin.Close()
	select {
	case err := <-b.done:
		if err != nil {
			b.t.Fatalf("browser script: %v", err)
		}
		b.done <- nil // for Cleanup
	case <-time.After(30 * time.Second):
		b.t.Fatal("browser script did not exit after BYE")
	}
}

// screenshot asks for docs-style screenshot console-<name>.png (a no-op without
// HERALD_SCREENSHOTS).
func (b *browserScript) screenshot(name string) {
	b.t.Helper()
	b.send("SCREENSHOT %s", name)
	b.expect("SHOT ")
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log("test.mjs: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tenant is an org with one vApp Author.
type tenant struct {
	orgID, userID string
	user, pass    string
}

func mustTenant(t *testing.T, admin *restClient) tenant {
	t.Helper()
	org := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", `{"name":"acme","displayName":"Acme Corporation"}`, http.StatusCreated)
	tn := tenant{orgID: bareID(t, org["id"]), user: "alice@acme", pass: "pw-alice-1"}
	u := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/users", fmt.Sprintf(
		`{"username":"alice","fullName":"Alice Doe","password":%q,"roleEntityRefs":[{"name":"vApp Author"}],"orgEntityRef":{"id":"urn:vcloud:org:%s"}}`,
		tn.pass, tn.orgID), http.StatusCreated)
	tn.userID = bareID(t, u["id"])
	return tn
}

// createTask has the producer API create a task for the tenant's user (VCD-COMPAT §8.4)
// and returns its UUID.
func createTask(t *testing.T, admin *restClient, tn tenant, operation, owner string) string {
	t.Helper()
	body := fmt.Sprintf(`{"name":"task","status":"queued","progress":0,"operation":%q,"operationName":"backupInProgress",`+
		`"serviceNamespace":"org.example.backup","owner":{"name":%q,"id":"urn:vcloud:vm:8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e","type":"application/vnd.vmware.vcloud.vm+xml"},`+
		`"user":{"id":"urn:vcloud:user:%s","name":"alice"}}`, operation, owner, tn.userID)
	task := admin.mustJSON(http.MethodPost, "/api/tasksList/"+tn.orgID, body, http.StatusOK,
		"Accept", taskAccept, "Content-Type", taskType)
	return bareID(t, task["id"])
}

func updateTask(t *testing.T, admin *restClient, id, operation, status string, progress int) {
	t.Helper()
	body := fmt.Sprintf(`{"name":"task","status":%q,"progress":%d,"operation":%q,"operationName":"backupInProgress","serviceNamespace":"org.example.backup"}`,
		status, progress, operation)
	admin.mustJSON(http.MethodPut, "/api/task/"+id, body, http.StatusOK, "Accept", taskAccept, "Content-Type", taskType)
}

// rows decodes a FILTER answer: the visible rows as TYPE/status.
func rows(t *testing.T, answer string) []string {
	t.Helper()
	var r []string
	if err := json.Unmarshal([]byte(answer), &r); err != nil {
		t.Fatalf("FILTER answer %q: %v", answer, err)
	}
	return r
}

// TestConsoleBrowser_TenantUser: a vApp Author logs in through the page, which
// subscribes to the user's own topic; a task driven through the producer API moves
// its one row from queued to success; a failed login shows as a failed event; the
// filters select by type and status; publish/# is shown as denied; logout revokes the
// token; and a session revoked by an administrator shows as expired.
func TestConsoleBrowser_TenantUser(t *testing.T) {
	chromium := requireBrowser(t)
	s := MustRunServer(t)
	admin := mustAdmin(t, s)
	tn := mustTenant(t, admin)

	b := startBrowser(t, chromium, s, tn.user, tn.pass)
	ownTopic := "publish/" + tn.orgID + "/" + tn.userID
	if got := strings.Fields(b.expect("CONNECTED ")); len(got) != 2 || got[1] != ownTopic {
		t.Fatalf("page connected with %q; want the session and exactly %s", got, ownTopic)
	}

	// A task queued at 0 → running at 50 → success at 100: one row, updated in place.
	const op = "Backing up VM web-01"
	taskID := createTask(t, admin, tn, op, "web-01")
	b.send("TASK %s queued 0", taskID)
	if got, want := b.expect("SEEN "), "rows=1 bar=0/s-queued text=queued_0%"; got != want {
		t.Errorf("queued task: page shows %q; want %q", got, want)
	}
	updateTask(t, admin, taskID, op, "running", 50)
	b.send("TASK %s running 50", taskID)
	if got, want := b.expect("SEEN "), "rows=1 bar=50/s-running text=running_50%"; got != want {
		t.Errorf("running task: page shows %q; want %q", got, want)
	}
	updateTask(t, admin, taskID, op, "success", 100)
	b.send("TASK %s success 100", taskID)
	if got, want := b.expect("SEEN "), "rows=1 bar=100/s-success text=success_100%"; got != want {
		t.Errorf("finished task: page shows %q; want %q", got, want)
	}

	// A wrong password raises session/login with operationSuccess false on alice's topic.
	if code := newRESTClient(t, s).login(tn.user, "wrong-password"); code != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password = %d; want 401", code)
	}
	b.send("EVENT session/login failure")
	b.expect("SEEN-EVENT ")

	b.send("FILTER TASK all")
	if got := rows(t, b.expect("ROWS ")); !slices.Equal(got, []string{"TASK/success"}) {
		t.Errorf("type filter TASK shows %v; want the one finished task", got)
	}
	b.send("FILTER all failed")
	if got := rows(t, b.expect("ROWS ")); !slices.Equal(got, []string{"EVENT/failure"}) {
		t.Errorf("status filter failed shows %v; want the failed login", got)
	}
	b.send("FILTER EVENT success")
	got := rows(t, b.expect("ROWS "))
	if len(got) < 3 || slices.ContainsFunc(got, func(r string) bool { return r != "EVENT/success" }) {
		t.Errorf("filters EVENT+success show %v; want only successful events (task create, start, complete)", got)
	}
	b.send("FILTER all all")
	if got := rows(t, b.expect("ROWS ")); len(got) < 5 {
		t.Errorf("without filters the page shows %v; want every row", got)
	}

	// A tenant asking for publish/# gets SUBACK 0x87 (VCD-COMPAT §7.3); the page says so.
	b.send("SUBSCRIBE publish/#")
	if got := b.expect("SUB "); !strings.HasPrefix(got, "denied denied: publish/# (not authorized 0x87)") {
		t.Errorf("publish/# shows as %q; want denied", got)
	}
	b.screenshot("tasks")

	// Logout deletes the session: the old token gets 401 afterwards.
	b.send("LOGOUT")
	if got, want := b.expect("LOGGED-OUT "), "delete=204 after=401"; got != want {
		t.Errorf("logout: %q; want %q", got, want)
	}

	// Logged in again, the session is revoked by an administrator: the broker closes
	// the connection with 0x87 and the page asks for a new login.
	b.send("LOGIN %s %s", tn.user, tn.pass)
	session := strings.Fields(b.expect("CONNECTED "))[0]
	admin.mustJSON(http.MethodDelete, "/cloudapi/1.0.0/sessions/"+session, "", http.StatusNoContent)
	b.send("WAIT-EXPIRED")
	if got := b.expect("EXPIRED "); !strings.HasPrefix(got, "session expired, log in again | session expired, log in again (not authorized 0x87)") {
		t.Errorf("after revocation the page shows %q", got)
	}
	b.screenshot("expired")
	b.quit()
}

// TestConsoleBrowser_TokenExpiry: when the JWT's exp passes, the page ends the session
// by itself (or on the broker's DISCONNECT 0xA0) and asks for a new login.
func TestConsoleBrowser_TokenExpiry(t *testing.T) {
	chromium := requireBrowser(t)
	s := MustRunServer(t, func(c *config.Config) { c.Auth.TokenLifetime = config.Duration(8 * time.Second) })
	tn := mustTenant(t, mustAdmin(t, s))
	b := startBrowser(t, chromium, s, tn.user, tn.pass)
	b.expect("CONNECTED ")
	b.send("WAIT-EXPIRED")
	if got := b.expect("EXPIRED "); !strings.HasPrefix(got, "session expired, log in again | session expired, log in again") {
		t.Errorf("after the token's exp the page shows %q", got)
	}
	b.quit()
}

// TestConsoleBrowser_SystemAdministrator: a system administrator's page subscribes to
// publish/# and metrics/#, shows other orgs' tasks, and draws a sparkline per VM
// metric of a vApp once metrics publishing and the simulator are on (VCD-COMPAT §9).
func TestConsoleBrowser_SystemAdministrator(t *testing.T) {
	chromium := requireBrowser(t)
	s := MustRunServer(t)
	admin := mustAdmin(t, s)
	tn := mustTenant(t, admin)
	vApp := admin.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/vApps", fmt.Sprintf(
		`{"name":"shop","org":{"id":"urn:vcloud:org:%s"},"vms":[{"name":"web-01"},{"name":"db-01"}]}`, tn.orgID), http.StatusCreated)
	vAppID := bareID(t, vApp["id"])

	b := startBrowser(t, chromium, s, adminName, adminPassword)
	if got := strings.Fields(b.expect("CONNECTED ")); len(got) != 2 || got[1] != "publish/#,metrics/#" {
		t.Fatalf("page connected with %q; want publish/# and metrics/#", got)
	}

	// A tenant's task reaches the system administrator's list.
	const op = "Deploying vApp shop"
	taskID := createTask(t, admin, tn, op, "shop")
	updateTask(t, admin, taskID, op, "running", 40)
	b.send("TASK %s running 40", taskID)
	if got, want := b.expect("SEEN "), "rows=1 bar=40/s-running text=running_40%"; got != want {
		t.Errorf("tenant task on the sysadmin's page: %q; want %q", got, want)
	}

	admin.mustJSON(http.MethodPut, "/cloudapi/herald/1.0.0/settings/metrics",
		`{"publishingEnabled":true,"intervalSeconds":1,"simulator":{"enabled":true}}`, http.StatusOK)
	b.send("METRICS %s 3", vAppID)
	got := b.expect("CHART ")
	if !strings.HasPrefix(got, "vms=2 metrics=8 name=shop points=") || strings.HasSuffix(got, "points=1") {
		t.Errorf("metrics of vApp shop: %q; want 2 VMs × 8 metrics with lines", got)
	}
	b.screenshot("metrics")
	b.quit()
}
