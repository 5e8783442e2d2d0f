package broker

import (
	"context"
	"sync/atomic"

	"github.com/heraldmq/herald/internal/mqtt"
)

// AsyncLog is a Log that can keep several appends in flight. When the
// broker's Log implements it, a producer's QoS 0 and 1 PUBLISH packets are
// pipelined: the reader starts each append and goes on reading, and the
// connection's acknowledger sends the PUBACKs in the order the PUBLISHes
// arrived [MQTT-4.6.0-2], each only once its message is stored. A QoS 2
// PUBLISH, a retained one, and one from a connection with No Local
// subscriptions take the synchronous Append after everything before them is
// acknowledged.
type AsyncLog interface {
	Log
	// AppendAsync starts storing a message like Append and returns without
	// waiting; the broker calls wait exactly once, and it returns what Append
	// would have. Appends started one after the other by one goroutine must be
	// stored in that order. The broker does not change payload afterwards, so
	// the implementation may keep it until wait returns; once wait has
	// reported it stored, the broker reuses payload's memory.
	AppendAsync(topic, id string, payload []byte) (wait func(context.Context) (uint64, error), err error)
}

// pipeline holds a producing connection's appends that are started but not
// yet acknowledged to the client, in the order their PUBLISHes arrived. The
// reader sends to q; the acknowledger goroutine (ackLoop) receives. q's
// capacity, the broker's Receive Maximum, bounds what one connection has in
// flight: a reader that finds q full waits, so a producer that outruns the
// store is slowed down, not buffered.
type pipeline struct {
	q    chan pendingPub
	n    atomic.Int32  // entries sent to q and not yet handled by ackLoop
	done chan struct{} // closed when ackLoop returns
}

// pendingPub is one entry of a pipeline: an append to wait for and the
// acknowledgement it owes, or a barrier.
type pendingPub struct {
	wait     func(context.Context) (uint64, error)
	payload  []byte        // what is being appended, in buf
	buf      *[]byte       // payloadBuffers' slot to return it to, or nil
	barrier  chan struct{} // non-nil: closed once every earlier entry is handled
	packetID uint16
	qos      byte
}

// appendPipelined starts the append of a PUBLISH through al and queues its
// acknowledgement behind the earlier ones. payload must not change afterwards;
// buf, if not nil, is the payloadBuffers slot that holds it, returned once the
// append is stored. It reports false when the connection is closing.
func (c *conn) appendPipelined(al AsyncLog, p *mqtt.Publish, payload []byte, buf *[]byte) bool {
	if c.pipe == nil {
		c.pipe = &pipeline{q: make(chan pendingPub, c.b.cfg.ReceiveMaximum), done: make(chan struct{})}
		go c.ackLoop()
	}
	wait, err := al.AppendAsync(p.Topic, "", payload)
	if err != nil {
		// Refused at once (invalid, or the store is unreachable): the refusal
		// still waits its turn behind the earlier acknowledgements.
		wait = func(context.Context) (uint64, error) { return 0, err }
	}
	return c.pipeSend(pendingPub{wait: wait, payload: payload, buf: buf, packetID: p.PacketID, qos: p.QoS})
}

// pipeSend queues pp, waiting while the pipeline is full; false when the
// connection is closing. Reader only.
func (c *conn) pipeSend(pp pendingPub) bool {
	c.pipe.n.Add(1)
	select {
	case c.pipe.q <- pp:
		return true
	case <-c.ctx.Done():
		c.pipe.n.Add(-1)
		return false
	}
}

// drainPipe waits until every pipelined PUBLISH has been acknowledged (or
// refused), so that what the reader queues next follows those
// acknowledgements. It reports false when the connection is closing. Reader
// only.
func (c *conn) drainPipe() bool {
	if c.pipe == nil || c.pipe.n.Load() == 0 {
		return true
	}
	b := make(chan struct{})
	if !c.pipeSend(pendingPub{barrier: b}) {
		return false
	}
	select {
	case <-b:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// stopPipe ends the acknowledger once the reader is done and waits for it.
// The connection is closing by then, so appends still in flight are not
// waited for: they may be stored, but are not acknowledged (the client sends
// them again on its next connection, at least once).
func (c *conn) stopPipe() {
	if c.pipe == nil {
		return
	}
	close(c.pipe.q)
	<-c.pipe.done
}

// ackLoop is the acknowledger goroutine of a producing connection, started
// by its first pipelined PUBLISH. It waits for each append in order and
// queues its PUBACK (QoS 1), or the refusal when the store failed. It returns
// when the reader closes q (stopPipe), after handling what is left.
func (c *conn) ackLoop() {
	defer close(c.pipe.done)
	for pp := range c.pipe.q {
		if pp.barrier != nil {
			close(pp.barrier)
		} else {
			_, err := pp.wait(c.ctx)
			if err == nil {
				// Stored: the log has no more use for the payload. After a
				// failure it might (a resend still on its way), so the
				// buffer is left to the collector.
				payloadBuffers.put(pp.buf, pp.payload)
			}
			c.pipelined(pp, err)
		}
		c.pipe.n.Add(-1)
	}
}

// pipelined answers one pipelined PUBLISH once its append is done, as
// onPublish answers a synchronous one.
func (c *conn) pipelined(pp pendingPub, err error) {
	if err == nil {
		c.b.stats.messagesIn.Add(1)
	}
	if c.ctx.Err() != nil {
		return // closing (perhaps after an earlier failure): nothing more is acknowledged
	}
	if err == nil {
		if pp.qos == 1 {
			c.s.queueCtrl(&mqtt.Puback{PacketID: pp.packetID}, c.version)
		}
		return
	}
	c.logAppendFailed(err)
	switch {
	case c.version != mqtt.Version5:
		// 3.1.1 has no negative acknowledgement: close (VCD-COMPAT §7.3).
		c.closeReason(reasonNone)
	case pp.qos == 0:
		c.b.stats.dropIn.Add(1)
	default:
		c.s.queueCtrl(&mqtt.Puback{PacketID: pp.packetID, ReasonCode: mqtt.ReasonUnspecifiedError, Props: c.reasonString(publicReason(err))}, c.version)
	}
}
