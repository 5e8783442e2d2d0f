package broker

import (
	"net"
	"syscall"
	"time"
)

// Parking: an idle WebSocket connection over plain TCP holds no goroutine
// and no buffer. When its reader finds nothing buffered (neither in the
// mqtt.Reader nor in the WebSocket framing), it gives both buffers back to
// their pools, registers the socket with the broker's poller (one epoll
// instance, poller_linux.go) and returns; ServeHTTP's goroutine ends. When
// the socket becomes readable, or the connection is asked to close
// (takeover, revocation, keepalive, Close), a new goroutine resumes the read
// loop where it stopped (resume). TLS connections (whose buffered records
// cannot be seen), plain MQTT TCP connections (ServeConn keeps its
// blocking contract) and systems without epoll keep a blocked reader.

// Park states of a connection (conn.pstate).
const (
	readerActive int32 = iota // a goroutine owns the read loop
	readerParked              // registered with the poller, no goroutine
)

// rawConnOf returns the socket to watch when nc can be parked, or nil.
func rawConnOf(nc net.Conn) syscall.RawConn {
	ws, ok := nc.(*wsConn)
	if !ok {
		return nil
	}
	tc, ok := ws.nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// firstParkAfter bounds the wait before a connection's first park (tryPark).
const firstParkAfter = 100 * time.Millisecond

// tryPark parks the connection if nothing is buffered and nothing arrives
// within Config.ParkAfter, and reports whether it did. (Waking a parked
// connection goes through the poller, which under a busy scheduler adds
// latency: a producer or any client that keeps sending is never parked, only
// one that went quiet.) When it reports true, the caller returns at
// once, since another goroutine may already have resumed the connection.
// Reader only.
func (c *conn) tryPark() bool {
	if c.raw == nil || c.r.Buffered() != 0 {
		return false
	}
	ws := c.nc.(*wsConn)
	wait := c.b.cfg.ParkAfter
	if !c.pollAdded {
		// The first park, right after the handshake and SUBSCRIBE, comes
		// sooner: a connect storm then holds a reader goroutine and its read
		// buffers per connection for 100 ms rather than a second, and the
		// garbage collector sizes the heap (and so the resident memory of
		// the idle connections that stay) by what is live during the storm:
		// 6.8 instead of 16.5 KB per idle connection at 19,000 (issue 7).
		// Later parks wait ParkAfter, so a subscriber acknowledging QoS 1
		// deliveries a few times a second is not parked and woken each time.
		wait = min(wait, firstParkAfter)
	}
	if ws.awaitData(wait) || !ws.release() {
		return false
	}
	c.r.Release()
	p := c.b.poller()
	// The conn's fields are set before the Store that publishes the park: a
	// goroutine resuming it may run as soon as arm has registered it.
	if c.pollID == 0 {
		c.pollID = p.newID()
	}
	add := !c.pollAdded
	c.pollAdded = true
	c.pstate.Store(readerParked)
	if err := p.arm(c, add); err != nil {
		// Not parked after all (a closed socket, or epoll refused): read on,
		// unless unpark already handed the connection to a new goroutine.
		c.logger.Debug("park failed", logKeyErr, err)
		return !c.pstate.CompareAndSwap(readerParked, readerActive)
	}
	// A close request while awaitData waited found the reader active, so its
	// unpark did nothing, and the writer then closes the socket, which leaves
	// the poller without an event: parked for good, and Broker.Close waiting
	// for it. The request cancels ctx before it unparks, so looking at ctx after
	// the Store above sees every request that unpark could have missed.
	if c.ctx.Err() != nil && c.pstate.CompareAndSwap(readerParked, readerActive) {
		p.forget(c)
		return false
	}
	return true
}

// unpark resumes a parked connection that is asked to close; the resumed
// read loop sees the closed context and ends the connection.
func (c *conn) unpark() {
	if c.pstate.CompareAndSwap(readerParked, readerActive) {
		c.b.poller().forget(c)
		go c.resume()
	}
}

// resume runs a parked connection's read loop again, on a goroutine of its
// own that ends when the connection parks again or ends.
func (c *conn) resume() {
	if c.run(true) {
		return
	}
	c.b.served(c)
}
