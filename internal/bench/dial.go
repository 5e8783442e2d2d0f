package bench

import (
	"net"
	"time"
)

// sourceDialer returns a dialer from source address src (any when empty), with TCP
// keep-alive when keepAlive is set. A source address is bound without a port
// (bindNoPort): the kernel then picks the port at connect, for the one destination,
// instead of at bind, among the ports no socket of src holds for any destination.
// After a few scenarios the earlier runs' connections hold tens of thousands of
// those in TIME_WAIT, and the search at bind cost the tool more CPU than the
// connects themselves (a connect storm against mosquitto right after the idle
// scenario: 9-26 s of the tool's CPU for 10,000 connects, 712-3,257 connects/s).
func sourceDialer(src string, keepAlive bool) *net.Dialer {
	nd := &net.Dialer{Timeout: 10 * time.Second}
	if !keepAlive {
		nd.KeepAlive = -1
	}
	if src != "" {
		nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		nd.Control = bindNoPort
	}
	return nd
}
