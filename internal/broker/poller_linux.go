//go:build linux

package broker

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// poller watches parked connections' sockets with one epoll instance and
// resumes each when it becomes readable (park.go). Registrations are
// one-shot: a socket reports once, and is armed again when its connection
// parks again. A closed socket leaves the epoll set by itself.
type poller struct {
	epfd   int
	wakeR  int // read end of a pipe in the set: written to stop run
	wakeW  int
	mu     sync.Mutex
	conns  map[uint64]*conn // parked (or parking) connections by poll id
	nextID atomic.Uint64
	done   chan struct{} // closed when run returns
	once   sync.Once     // for stop
}

// newPoller starts a poller; its goroutine (run) exits after stop.
func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN} // id 0: the wake pipe
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(p[0])
		_ = syscall.Close(p[1])
		return nil, err
	}
	pl := &poller{epfd: epfd, wakeR: p[0], wakeW: p[1], conns: make(map[uint64]*conn), done: make(chan struct{})}
	go pl.run()
	return pl, nil
}

// newID returns a poll id for a connection (never 0, the wake pipe's).
func (p *poller) newID() uint64 { return p.nextID.Add(1) }

// arm registers c's socket (add: for the first time) for one readiness
// report. If the socket is readable already, the report comes at once. It
// does not write c's fields: c may be resumed before it returns.
func (p *poller) arm(c *conn, add bool) error {
	p.mu.Lock()
	p.conns[c.pollID] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd: int32(uint32(c.pollID)), Pad: int32(uint32(c.pollID >> 32))}
	var err error
	// Control holds the descriptor open: it cannot be closed and reused by
	// another socket meanwhile.
	cerr := c.raw.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if add {
			op = syscall.EPOLL_CTL_ADD
		}
		err = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		if errors.Is(err, syscall.ENOENT) { // closed and reopened under the same number: never ours
			err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.forget(c)
	}
	return err
}

// forget drops c from the parked set.
func (p *poller) forget(c *conn) {
	p.mu.Lock()
	if p.conns[c.pollID] == c {
		delete(p.conns, c.pollID)
	}
	p.mu.Unlock()
}

// run waits for readiness reports and resumes each connection on a new
// goroutine. It returns after stop.
func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if !errors.Is(err, syscall.EINTR) {
				// Not expected while epfd is open (only run closes it); parked
				// connections depend on this loop, so it goes on.
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		for i := range events[:n] {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if id == 0 {
				_ = syscall.Close(p.epfd)
				_ = syscall.Close(p.wakeR)
				return
			}
			p.mu.Lock()
			c := p.conns[id]
			if c != nil && c.pstate.CompareAndSwap(readerParked, readerActive) {
				delete(p.conns, id)
			} else {
				c = nil
			}
			p.mu.Unlock()
			if c != nil {
				go c.resume()
			}
		}
	}
}

// stop ends run and waits for it. Call it once, when no connection is
// parked or parking any more.
func (p *poller) stop() {
	p.once.Do(func() {
		_, _ = syscall.Write(p.wakeW, []byte{0})
		<-p.done
		_ = syscall.Close(p.wakeW)
	})
}

// finWaiting reports whether the socket's next read would return end of
// file: the peer has closed (or shut down) its side and sent nothing before.
// It peeks without waiting, under Control, which takes no read lock: a
// reader blocked on the socket does not hold it up.
func finWaiting(rc syscall.RawConn) bool {
	fin := false
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		fin = n == 0 && err == nil
	})
	return fin
}
