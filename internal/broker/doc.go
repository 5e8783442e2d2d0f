// Package broker is herald's MQTT broker: MQTT 3.1.1 and 5.0 sessions over any
// net.Conn (ServeConn), the /messaging/mqtt WebSocket endpoint (ServeHTTP), and
// the fan-out of stored notifications to subscribers (Deliver). The wire
// contract is docs/VCD-COMPAT.md §6 and §7; the rules below cite it.
//
// # Data flow
//
// Producers' PUBLISH packets are authorized, validated and appended to the
// durable Log; the broker acknowledges them only once they are stored. With a
// Log that is also an AsyncLog, QoS 0 and 1 PUBLISHes are pipelined: the
// reader starts each append and reads on, up to Receive Maximum in flight per
// connection, and the connection's acknowledger sends the PUBACKs in arrival
// order as the appends complete (pipeline.go). Nothing
// is routed directly: the node's live feed of the log calls Deliver for every
// stored message, in log order, from one goroutine. Deliver finds the matching
// subscriptions in a topic.Index trie and appends one small entry (a pointer to
// the shared message and the delivery QoS) to each session's bounded outbound
// queue. The payload is never copied per subscriber, and once the queues have
// grown to their working size Deliver allocates only the shared message. Each
// connection's writer goroutine drains its queue, encodes every pending packet
// with mqtt.AppendPublish into one buffer and writes it with one Write (one
// WebSocket message: one frame, sent with one writev, wsconn.go).
//
// # Authentication (§6.2)
//
//   - Form A: ServeHTTP verified "Authorization: Bearer <JWT>" before upgrading
//     (401 through Config.WriteHTTPError otherwise); CONNECT credentials are
//     ignored.
//   - Form B: the CONNECT password is a JWT (Authenticator); a non-empty
//     username must be user@org naming the same user and org, in any case.
//   - Form C: a username without '@' is a service account (ServiceAccounts).
//
// No credentials: CONNACK 0x05 (3.1.1) / 0x87 (5.0). Bad, expired or revoked
// credentials, or a username that does not match the token: 0x05 / 0x86. An MQTT
// 5.0 Authentication Method: 0x8C. MQTT 3.1 (level 3): 0x01. Each refusal is
// followed by closing the connection. A Will is accepted only where the
// principal may publish; it is stored through the Log when the connection ends
// without DISCONNECT, except after revocation or expiry.
//
// # Sessions (§6.5, §6.6)
//
// A session is identified by (principal, client id): client ids are scoped per
// user or service account. A second connection with the same key takes over
// and closes the first (DISCONNECT 0x8E on 5.0) [MQTT-3.1.4-2]; the same id
// under another principal is a different session. An empty client id gets a
// server-assigned one (returned in 5.0 as Assigned Client Identifier), except
// with CleanSession=0 on 3.1.1 (CONNACK 0x02); ids over 128 bytes get 0x02 /
// 0x85. A principal's connections beyond Config.MaxConnsPerPrincipal are
// refused with 0x03 / 0x97.
//
// # Persistent sessions (§6.6)
//
// With Config.Sessions and Config.Backlog, CleanSession=0 (3.1.1) and a 5.0
// Session Expiry Interval > 0 make the session persistent; without them every
// session is clean (session present 0, a 5.0 expiry answered with 0). A
// persistent session is a SessionRecord keyed by (principal, client id): its
// subscriptions, an ack floor into the log (every matching message at or
// below it is acknowledged) and the in-flight packet ids with their log
// sequences. It is never a copy of messages: the log is the buffer. It
// expires Config.SessionRetention (24 h) after the disconnect on 3.1.1; a
// 5.0 interval is capped there and the CONNACK reports the lowered value.
// A clean start deletes the stored session [MQTT-3.1.2-4], [MQTT-3.1.2-6]; a
// stored one found gives session present 1 [MQTT-3.2.2-2]; an expired one is
// deleted instead. A 5.0 Clean Start=0 with expiry 0 is served as a clean
// session (the stored one is discarded).
//
// On resumption each stored filter is re-checked with topic.CanSubscribe
// against the principal's current rights and dropped (logged) if no longer
// allowed. Then, in this order [MQTT-4.4.0-1]: the in-flight messages are
// resent with DUP=1 and their packet ids (PUBREL for a released QoS 2 one),
// read back by sequence through Backlog.Message; the backlog, every message
// after the ack floor matching a QoS ≥ 1 filter (QoS 0 filters get none), in
// log order; then live traffic. The session loop (persist.go) replays the
// backlog while Deliver holds this session's live QoS ≥ 1 deliveries; when
// the replay ends at the log's last sequence L, held deliveries at or below L
// are dropped and the rest queued after it, so the hand-over has no gap and
// no duplicate. Messages lost to the log's retention (first > floor+1) are
// counted (Stats.SessionsLost), logged at warn and, on 5.0, named in the
// CONNACK's Reason String; the rest is delivered. A log deleted and created
// again starts its sequences over (Broker.LogReset, told by the feed): the
// connections of persistent sessions are closed (5.0: DISCONNECT 0x98). A
// record names the epoch of the log its floor counts in (LogBounds.Epoch), so a
// session that finds another epoch when it resumes, however long the new log has
// grown meanwhile, resumes from the new log's first message, its in-flight window
// dropped, saying so in the CONNACK's Reason String; so does one whose floor is
// above the log's last sequence (a record saved before records named the epoch
// has only this sign). Duplicates are possible
// only within the in-flight window (messages acknowledged out of order, or
// acknowledged after the last save before a crash).
//
// The ack floor advances as PUBACK / PUBCOMP arrive, past the acknowledged
// prefix of the tracked (queued or in-flight) sequences. The record is saved
// with compare-and-set at connect, at most every second while it changes,
// after SUBSCRIBE and UNSUBSCRIBE before their acknowledgement (a failed save
// refuses them: SUBACK 0x80, 5.0 UNSUBACK 0x80, 3.1.1 closes), at least every quarter
// of its expiry, and at disconnect. Takeover: the new connection closes the
// old one, waits (up to 15 s) until the old one has saved the session at
// disconnect, and only then loads it; a 5.0 DISCONNECT may change the expiry,
// 0 deleting the session.
//
// Keepalive: no packet for 1.5 × keepalive closes the connection (0x8D on
// 5.0); 0 turns the check off [MQTT-3.1.2-24]. Token expiry closes with 0xA0;
// CloseSessions, CloseUser, CloseOrg and ClosePrincipal close with 0x87 (§6.7).
// Authenticator.Touch is called at CONNECT and then, while packets arrive, at
// most once per Config.TouchInterval (1 minute). A malformed packet, a protocol error or a packet over
// Config.MaxPacketBytes closes the connection, after DISCONNECT with the
// codec's reason (0x81, 0x82, 0x95) on 5.0.
//
// # Authorization (§7.2, §7.3)
//
// Each SUBSCRIBE filter is decided on its own by topic.CanSubscribe: denied
// 0x80 / 0x87, malformed 0x80 / 0x8F, shared ($share/…) 0x80 / 0x9E, over
// MaxSubscriptionsPerSession 0x80 / 0x97; "granted but never matches" is
// granted and logged at warn. The granted QoS is the requested one. Filters are
// kept as sent, so UNSUBSCRIBE with the same string removes them. Interactive
// users never publish: 3.1.1 closes the connection, 5.0 answers PUBACK/PUBREC
// 0x87 or drops (and counts) QoS 0. Service accounts publish within their
// grants (topic.CanPublish); under publish/ and metrics/ the payload goes
// through Config.ValidateNotification (invalid: 0x99; malformed topic: 0x90)
// and RETAIN is ignored. Notifications are never delivered retained.
//
// # Retained messages (§6.4)
//
// Outside publish/ and metrics/, with a Config.Retained store, MQTT's rules
// hold: a PUBLISH (or a will) with RETAIN=1 replaces the topic's retained
// message, an empty payload clears it [MQTT-3.3.1-5..7], and it is stored
// through RetainedStore.SetRetained and then appended to the Log (delivered
// live like any message) before it is acknowledged. A new subscription
// receives the matching retained messages with RETAIN=1, each at the lower
// of its QoS and the granted one, queued right behind the SUBACK
// [MQTT-3.3.1-9]; MQTT 5 Retain Handling 1 sends them only for a filter new
// to the session, 2 never [MQTT-3.3.1-10], [MQTT-3.3.1-11]. Live deliveries
// have RETAIN=0 unless the subscription asked for Retain As Published
// [MQTT-3.3.1-12], [MQTT-3.3.1-13]. The store keeps retained messages across
// restarts and nodes. Without a store Retain Available is 0: a 5.0 RETAIN=1
// there gets DISCONNECT 0x9A and a Will Retain CONNACK 0x9A, while a 3.1.1
// one is stored as a normal message.
//
// The log's feed carries only topic and payload, so Deliver learns which
// local connection published a message (No Local) and whether with RETAIN=1
// (Retain As Published) from records the publishing connection leaves
// around its Append (see origin in session.go). A message published through
// another node is therefore never taken for a local connection's own and is
// delivered with RETAIN=0 even under Retain As Published; carrying both
// facts in the log would lift this.
//
// # QoS and limits
//
// Messages are stored as QoS 2 and delivered at the subscription's granted QoS;
// a session matched by several of its filters gets one copy at the highest
// [MQTT-3.3.5-1]. Outbound QoS 1 and 2 use per-session packet ids, at most
// min(MaxInflight, Receive Maximum) in flight; later messages wait in order. A
// client may have ReceiveMaximum PUBLISHes of its own unacknowledged.
// Messages larger than a 5.0 client's Maximum Packet Size are skipped and
// counted. The server uses no topic aliases (Topic Alias Maximum 0) and a
// client's alias gets DISCONNECT 0x94.
//
// MQTT 5 subscription options: No Local keeps a connection's own messages
// from coming back to it [MQTT-3.8.3-3]; Retain As Published and Retain
// Handling as above. Subscription identifiers are available: the one of a
// SUBSCRIBE is kept with each of its filters and sent on every matching
// PUBLISH; a session matched by several filters gets one PUBLISH with all
// their identifiers [MQTT-3.3.4-3], [MQTT-3.3.4-4]. Two identifiers per
// delivery live inside the queue entry, so the fan-out stays allocation-free;
// more cost one small slice per session. A client's PUBLISH carrying one is
// a protocol error [MQTT-3.3.4-6].
//
// # Overflow policy
//
// A session's queue holds at most Config.MaxQueue messages. When it is full a
// QoS 0 delivery is dropped and counted (Stats.Drops.QueueFullQoS0); a QoS 1
// or 2 delivery on a clean session is dropped, counted (QueueFullQoS1) and
// logged at warn once per overflow episode. A persistent session never drops
// QoS ≥ 1: when its queue is full it is marked behind (Stats.SessionsBehind)
// and its session loop, once the queue has room, replays the log from the
// last queued sequence before rejoining live delivery. Deliver never
// waits for a client; a client that does not read is disconnected after
// Config.WriteTimeout.
//
// # Closing
//
// Every close (takeover, revocation through CloseSessions, CloseUser,
// CloseOrg and ClosePrincipal, expiry, keepalive, Close) only cancels the
// connection's context. The writer then sends the 5.0 DISCONNECT and closes
// the net.Conn; if it is stuck in a Write to a client that does not read, the
// net.Conn is closed under it after closeGrace (500 ms), so a revoked client
// is gone within a second whatever its socket buffers hold.
//
// # WebSocket origins
//
// ServeHTTP refuses, with 403 before any authentication, an upgrade whose
// Origin header names neither the request's host nor a pattern of
// Config.AllowedOrigins; requests without Origin (non-browser clients) pass.
//
// # Goroutines
//
//   - ServeConn runs in its caller's goroutine (the one a TCP listener
//     started) and is the connection's reader. It returns when the connection
//     ends, after waiting for the writer.
//   - ServeHTTP's goroutine is a WebSocket connection's reader until the
//     connection parks (park.go): over plain TCP, when nothing is buffered,
//     the connection gives back its read buffers, registers its socket with
//     the broker's poller and ServeHTTP returns. The poller goroutine (one
//     per broker, poller_linux.go, from the first parked connection until
//     Close) starts a new reader goroutine (conn.resume) when the socket
//     becomes readable, and the close hook starts one when the connection is
//     asked to close; that goroutine ends when the connection parks again or
//     ends. At most one reader runs at a time (conn.pstate).
//   - A writer goroutine (conn.writeRun) runs while an established
//     connection has something to write: conn.kick starts it when a delivery
//     or acknowledgement is queued, and it exits when the queue is drained.
//     The close hook (conn.closing, fired by conn.closeReason) starts a last one
//     when the connection's context is done (client gone, protocol error,
//     takeover, revocation, expiry, keepalive, Close, or the ServeConn
//     context); it sends the 5.0 DISCONNECT, closes the net.Conn and closes
//     writerDone, and no writer starts after it.
//   - One acknowledger per producing connection (conn.ackLoop, pipeline.go),
//     from its first pipelined PUBLISH: it waits for the appends in order and
//     queues their PUBACKs. It exits when the reader, ending, closes its
//     queue.
//   - One session loop per persistent session (conn.sessionLoop): it replays
//     the backlog and saves the record. It exits when the connection's
//     context is done; ServeConn waits for it before the final save.
//   - Timers (keepalive, token expiry, and during CONNECT a close-on-cancel
//     hook) only request a close; they are stopped when ServeConn returns.
//   - After CONNECT, the close hook (conn.closing) runs once the connection is
//     asked to close: it exits when the writer is done or, after closeGrace,
//     closes the net.Conn and exits. The connection's end waits for it.
//   - Close waits, through a WaitGroup, for every ServeConn to return; its
//     helper goroutine exits when they have.
//
// # Locks
//
// Broker.mu guards the connection and session tables; Broker.deliverMu
// serialises Deliver; Broker.originMu guards the origin records; the
// topic.Index has its own lock; session.mu guards one session's queue,
// acknowledgements, in-flight window and persistent cursor (persistState).
// The session loop calls Backlog and SessionStore with no lock held but its
// session's save turn (persistState.save, which the reader also takes to
// store a SUBSCRIBE or UNSUBSCRIBE before acknowledging it, and which comes
// before session.mu and topic.Index), and waits for queue room outside
// session.mu. Lock order: Broker.deliverMu →
// Broker.originMu (released before matching) → topic.Index (only inside
// AppendMatches, released before any session is touched) → session.mu.
// Broker.mu is never held with another of these locks; closing a connection
// under Broker.mu only cancels a context. A RetainedStore is called with no
// broker lock held. The poller's mutex guards its table of parked
// connections and is taken with no other lock held; wsConn.wmu serialises a
// WebSocket's frame writes and is the innermost lock. Starting a writer
// (kick) takes no lock, so Deliver and session.mu holders may call it.
package broker
