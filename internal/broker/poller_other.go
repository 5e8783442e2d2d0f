//go:build !linux

package broker

import (
	"errors"
	"syscall"
)

// poller is not available here: connections keep a blocked reader (park.go).
type poller struct{}

func newPoller() (*poller, error)             { return nil, errors.ErrUnsupported }
func (p *poller) newID() uint64               { return 1 }
func (p *poller) arm(c *conn, add bool) error { return errors.ErrUnsupported }
func (p *poller) forget(c *conn)              {}
func (p *poller) stop()                       {}

// finWaiting cannot tell here.
func finWaiting(syscall.RawConn) bool { return false }
