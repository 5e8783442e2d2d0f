package cli_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/freeport"
)

// walkthroughBlocks returns the shell blocks of README.md marked
// "<!-- walkthrough: NAME -->", by name, one command per line.
func walkthroughBlocks(t *testing.T, readme string) map[string][]string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks := map[string][]string{}
	name, inBlock := "", false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "<!-- walkthrough: "):
			name = strings.TrimSuffix(strings.TrimPrefix(line, "<!-- walkthrough: "), " -->")
		case name != "" && !inBlock && strings.HasPrefix(line, "```"):
			inBlock = true
		case inBlock && strings.HasPrefix(line, "```"):
			inBlock, name = false, ""
		case inBlock && strings.TrimSpace(line) != "":
			blocks[name] = append(blocks[name], line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// tmux drives one private tmux server.
type tmux struct {
	t      *testing.T
	socket string
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", x.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// typeLine types line into window w and presses Enter, as a person would.
func (x *tmux) typeLine(w, line string) {
	x.t.Helper()
	x.run("send-keys", "-t", "walk:"+w, "-l", line)
	x.run("send-keys", "-t", "walk:"+w, "Enter")
}

// screen returns what window w shows, its scrollback included, with wrapped lines joined.
func (x *tmux) screen(w string) string {
	x.t.Helper()
	return x.run("capture-pane", "-p", "-J", "-S", "-500", "-t", "walk:"+w)
}

// waitFor polls window w until its screen matches re, and returns the match's groups.
func (x *tmux) waitFor(w string, re *regexp.Regexp, within time.Duration) []string {
	x.t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s := x.screen(w)
		if m := re.FindStringSubmatch(s); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("window %s did not show %q within %v; it shows:\n%s", w, re, within, s)
		}
		<-tick.C
	}
}

// step types a README line into w, then an echo of its exit status, and waits for
// that status to be 0.
func (x *tmux) step(w string, n int, line string) {
	x.t.Helper()
	x.typeLine(w, line)
	x.typeLine(w, fmt.Sprintf("echo step-%d rc=$?", n))
	m := x.waitFor(w, regexp.MustCompile(fmt.Sprintf(`(?m)^step-%d rc=(\d+)$`, n)), time.Minute)
	if m[1] != "0" {
		x.t.Fatalf("%q exited %s; window %s shows:\n%s", line, m[1], w, x.screen(w))
	}
}

// TestWalkthrough_README runs README's "A first session" as a new user would: three
// tmux windows in a fresh directory, the README's lines typed into them, herald built
// from this tree. It checks that alice's `herald tail` shows the task the
// administrator drives, step by step. The only changes to the typed lines: the port
// is a free one (HERALD_ADDR and HERALD_URL in the session's environment) rather than
// 8443, the build's output goes to the fresh directory, and <id> is the id that
// `task create` printed.
func TestWalkthrough_README(t *testing.T) {
	if testing.Short() {
		t.Skip("builds herald and runs it in tmux; skipped with -short")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("HERALD_REQUIRE_CLIENTS") == "1" {
			t.Fatal("tmux is required (HERALD_REQUIRE_CLIENTS=1) but not installed")
		}
		t.Skip("tmux not installed")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := walkthroughBlocks(t, filepath.Join(root, "README.md"))
	for _, name := range []string{"serve", "admin", "tail", "task"} {
		if len(blocks[name]) == 0 {
			t.Fatalf("README.md has no walkthrough block %q", name)
		}
	}
	serve := blocks["serve"]
	if serve[0] != "go build -o herald ./cmd/herald" {
		t.Fatalf("the serve block starts with %q; this test builds herald as README's first line did", serve[0])
	}

	// Not t.TempDir: after a failure herald may still be writing its data dir while
	// the tmux server goes down, and that must not fail the cleanup too.
	dir, err := os.MkdirTemp("", "herald-walkthrough-")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "herald"), "./cmd/herald")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port, err := freeport.Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}

	x := &tmux{t: t, socket: fmt.Sprintf("herald-walk-%d", os.Getpid())}
	x.run("new-session", "-d", "-s", "walk", "-n", "serve", "-x", "200", "-y", "50", "-c", dir,
		"-e", "HOME="+dir,
		"-e", "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"-e", fmt.Sprintf("HERALD_ADDR=127.0.0.1:%d", port),
		"-e", fmt.Sprintf("HERALD_URL=https://localhost:%d", port),
		"bash", "--norc", "--noprofile")
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-L", x.socket, "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
	for _, w := range []string{"admin", "tail"} {
		x.run("new-window", "-d", "-t", "walk", "-n", w, "-c", dir, "bash", "--norc", "--noprofile")
	}

	// Terminal 1: herald serve, ready when GET /readyz answers 200.
	for _, line := range serve[1:] {
		x.typeLine("serve", line)
	}
	waitReady(t, x, port)

	// Terminal 2: the administrator's login, an org, a user.
	n := 0
	for _, line := range blocks["admin"] {
		n++
		x.step("admin", n, line)
	}

	// Terminal 3: alice logs in and tails.
	tail := blocks["tail"]
	for _, line := range tail[:len(tail)-1] {
		n++
		x.step("tail", n, line)
	}
	x.typeLine("tail", tail[len(tail)-1])
	x.waitFor("tail", regexp.MustCompile(`(?m)^herald: subscribed`), 30*time.Second)

	// And alice's console in Chromium, as README says, when the browser test's tools
	// are installed.
	page := openConsole(t, root, port, "alice@acme", "alice-pw-1")

	// Terminal 2: the task, created and moved on; alice sees each step.
	task := blocks["task"]
	n++
	x.step("admin", n, task[0])
	id := x.waitFor("admin", regexp.MustCompile(`Created task ([0-9a-f-]{36}): queued 0%`), time.Second)[1]
	x.waitFor("tail", regexp.MustCompile(`TASK .* queued 0% .*id=`+id), 10*time.Second)
	page.task(id, "queued", 0)
	want := []string{`running 50%`, `success 100%`}
	wantPage := []struct {
		status   string
		progress int
	}{{"running", 50}, {"success", 100}}
	if len(task[1:]) != len(want) {
		t.Fatalf("the task block has %d update lines; this test expects %d", len(task[1:]), len(want))
	}
	for i, line := range task[1:] {
		if !strings.Contains(line, "<id>") {
			t.Fatalf("task line %q has no <id> placeholder", line)
		}
		n++
		x.step("admin", n, strings.ReplaceAll(line, "<id>", id))
		x.waitFor("tail", regexp.MustCompile(`TASK .* `+want[i]+` .*id=`+id), 10*time.Second)
		page.task(id, wantPage[i].status, wantPage[i].progress)
	}
	page.quit()

	// Ctrl-C ends tail with status 0 and herald serve gracefully.
	x.run("send-keys", "-t", "walk:tail", "C-c")
	x.typeLine("tail", "echo tail-rc=$?")
	x.waitFor("tail", regexp.MustCompile(`(?m)^tail-rc=0$`), 10*time.Second)
	x.run("send-keys", "-t", "walk:serve", "C-c")
	x.typeLine("serve", "echo serve-rc=$?")
	x.waitFor("serve", regexp.MustCompile(`(?m)^serve-rc=0$`), 30*time.Second)

	verifyUnit(t, root, filepath.Join(dir, "herald"))
}

// verifyUnit checks deploy/herald.service with systemd-analyze verify, its ExecStart
// pointed at the herald just built, when systemd-analyze is installed.
func verifyUnit(t *testing.T, root, binary string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed; deploy/herald.service not verified")
		return
	}
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "herald.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/herald serve") {
		t.Fatal("deploy/herald.service does not start /usr/local/bin/herald serve")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.service")
	unit = []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/herald", binary))
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "herald.service") {
		t.Errorf("systemd-analyze verify deploy/herald.service: %v\n%s", err, out)
	}
}

// consolePage is the console driven by internal/console's browser script, or nil
// when node, Chromium or playwright-core is missing (a failure with
// HERALD_REQUIRE_CLIENTS=1).
type consolePage struct {
	t     *testing.T
	stdin io.WriteCloser
	lines *bufio.Scanner
	cmd   *exec.Cmd
}

func openConsole(t *testing.T, root string, port int, user, password string) *consolePage {
	t.Helper()
	dir := filepath.Join(root, "internal", "console", "testdata", "browser")
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing = "/usr/bin/chromium"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = "playwright-core (npm ci in internal/console/testdata/browser)"
	}
	if missing != "" {
		if os.Getenv("HERALD_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("%s is required (HERALD_REQUIRE_CLIENTS=1) but not installed", missing)
		}
		t.Logf("%s not installed: the console part of the walkthrough is skipped", missing)
		return nil
	}
	cmd := exec.Command("node", "test.mjs", fmt.Sprintf("https://localhost:%d", port), user, password)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
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
	p := &consolePage{t: t, stdin: stdin, lines: bufio.NewScanner(stdout), cmd: cmd}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	p.expect("CONNECTED ")
	return p
}

// expect reads the script's next line, which must start with prefix. The script
// bounds each of its own waits (20 s).
func (p *consolePage) expect(prefix string) string {
	p.t.Helper()
	if !p.lines.Scan() {
		p.t.Fatalf("the console script ended while waiting for %q", prefix)
	}
	line := p.lines.Text()
	if !strings.HasPrefix(line, prefix) {
		p.t.Fatalf("the console script said %q; want %q…", line, prefix)
	}
	return strings.TrimPrefix(line, prefix)
}

// task waits until the page shows the task's one row with status and progress.
func (p *consolePage) task(id, status string, progress int) {
	if p == nil {
		return
	}
	p.t.Helper()
	fmt.Fprintf(p.stdin, "TASK %s %s %d\n", id, status, progress)
	want := fmt.Sprintf("rows=1 bar=%d/s-%s text=%s_%d%%", progress, status, status, progress)
	if got := p.expect("SEEN "); got != want {
		p.t.Errorf("console shows the task as %q; want %q", got, want)
	}
}

func (p *consolePage) quit() {
	if p == nil {
		return
	}
	p.t.Helper()
	fmt.Fprintln(p.stdin, "QUIT")
	p.expect("BYE")
}

// waitReady polls GET /readyz until it answers 200; the serve window's screen is
// shown if it does not within a minute.
func waitReady(t *testing.T, x *tmux, port int) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // readiness only; the CLI verifies
	}}
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", port)
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := c.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald serve not ready within a minute; it shows:\n%s", x.screen("serve"))
		}
		<-tick.C
	}
}
