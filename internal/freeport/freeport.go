// Package freeport finds TCP ports for listeners that something else will bind a
// moment later: another process (a herald or mosquitto under test) or a server
// configured by address.
//
// Asking the kernel for port 0 and closing the listener is not enough on a busy
// machine: the kernel hands the same ephemeral range to every outgoing connection
// and every port-0 listener of every process, so the port can be taken before the
// caller binds it (a README walkthrough test failed once with "bind: address already
// in use" while other test packages ran beside it). The ports found here lie outside
// that range, so only another caller choosing the same way could take them, and
// within one process no port is handed out twice.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the smallest port chosen: clear of the well-known and most registered
// services' ports.
const lowest = 10000

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Port returns a TCP port that was free on host (an IP address, or "" for every
// address) a moment ago and lies outside the kernel's ephemeral port range.
func Port(host string) (int, error) {
	lo, hi := candidates(ephemeralRange())
	return pick(host, lo, hi)
}

// pick returns a port in [lo, hi] that was free on host and not handed out before.
func pick(host string, lo, hi int) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		p := lo + rand.IntN(hi-lo+1)
		if given[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		given[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("freeport: no free port on %q in %d-%d", host, lo, hi)
}

// Addr returns host:port for a port that Port would return.
func Addr(host string) (string, error) {
	p, err := Port(host)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// candidates returns the range to choose from given the ephemeral range [elo, ehi]:
// the ports below it when there are at least a thousand, otherwise those above it.
func candidates(elo, ehi int) (lo, hi int) {
	if elo-lowest >= 1000 {
		return lowest, elo - 1
	}
	if 65535-ehi >= 1000 {
		return ehi + 1, 65535
	}
	return lowest, 65535 // no room outside it: take the chance of the whole range
}

// ephemeralRange reads Linux's ip_local_port_range, or returns its default.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l < 1 || h > 65535 || l > h {
		return lo, hi
	}
	return l, h
}
