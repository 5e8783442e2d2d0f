package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/heraldmq/herald/internal/freeport"
)

// childServer is a server the tool started as a child process: mosquitto (a
// websockets listener on a loopback port, anonymous access, no persistence, its
// config in a temporary directory) or the null server. Close stops it and waits
// for it to exit.
type childServer struct {
	cmd    *exec.Cmd
	dir    string        // removed by Close; empty for none
	url    string        // ws://127.0.0.1:<port>/
	exited chan struct{} // closed when the process has exited
}

// newChildServer returns the childServer of cmd, started, and reaps the
// process when it ends.
func newChildServer(cmd *exec.Cmd, dir string) *childServer {
	s := &childServer{cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	return s
}

// startMosquitto runs the mosquitto binary at path with a websockets listener on a
// free loopback port and waits until the port accepts connections. A port can be
// taken between choosing it and mosquitto binding it (after a run that leaves
// thousands of sockets in TIME_WAIT), in which case mosquitto exits at once: it is
// tried up to three times, each with new ports.
func startMosquitto(ctx context.Context, path string) (*childServer, error) {
	var err error
	for range 3 {
		var m *childServer
		if m, err = startMosquittoOnce(ctx, path); err == nil || ctx.Err() != nil {
			return m, err
		}
	}
	return nil, err
}

func startMosquittoOnce(ctx context.Context, path string) (*childServer, error) {
	// The websockets listener binds every address (see below), so its port must be
	// free on the wildcard address, not only on 127.0.0.1.
	port, err := freeport.Port("")
	if err != nil {
		return nil, err
	}
	mqttPort, err := freeport.Port("127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "herald-bench-mosquitto-")
	if err != nil {
		return nil, fmt.Errorf("mosquitto config dir: %w", err)
	}
	// mosquitto 2.0.11 (Debian 12) refuses to start with only a websockets
	// listener, and its libwebsockets ignores a websockets listener's bind
	// address (eclipse-mosquitto/mosquitto#2284, #3045): a plain listener on
	// loopback comes first, and the websockets one is limited to the loopback
	// interface with bind_interface, as far as that build honours it.
	conf := "per_listener_settings false\n" +
		"persistence false\n" +
		"log_dest none\n" +
		"allow_anonymous true\n" +
		"listener " + strconv.Itoa(mqttPort) + " 127.0.0.1\n" +
		"max_connections -1\n" +
		"listener " + strconv.Itoa(port) + "\n" +
		"bind_interface lo\n" +
		"protocol websockets\n" +
		"max_connections -1\n"
	file := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("write mosquitto config: %w", err)
	}
	// Not CommandContext: Close stops it, after the run has measured it.
	cmd := exec.Command(path, "-c", file)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	m := newChildServer(cmd, dir)
	m.url = "ws://127.0.0.1:" + strconv.Itoa(port) + "/"
	exited := m.exited // closed early on a failed bind
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case <-exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("mosquitto exited at start (port %d taken?)", port)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return m, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.Close()
			return nil, fmt.Errorf("mosquitto did not listen on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid returns the server's process id.
func (m *childServer) Pid() int { return m.cmd.Process.Pid }

// Close stops the server (SIGINT, then SIGKILL after 5 s) and removes its directory.
func (m *childServer) Close() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	if m.dir != "" {
		os.RemoveAll(m.dir)
	}
}
