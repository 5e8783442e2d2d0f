// Package broker is herald's MQTT broker: MQTT 3.1.1 and 5.0 sessions over any
// net.Conn (ServeConn), the /messaging/mqtt WebSocket endpoint (ServeHTTP), and
// the fan-out of stored notifications to subscribers (Deliver). The wire
// contract is docs/VCD-COMPAT.md §6 and §7; the rules below cite it.
//
// # Data flow
//
// Producers' PUBLISH packets are authorized, validated and appended to the
// durable Log; the broker acknowledges them only once Append returns. Nothing
// is routed directly: the node's live feed of the log calls Deliver for every
// stored message, in log order, from one goroutine. Deliver finds the matching
// subscriptions in a topic.Index trie and appends one small entry (a pointer to
// the shared message and the delivery QoS) to each session's bounded outbound
// queue. The payload is never copied per subscriber, and once the queues have
// grown to their working size Deliver allocates only the shared message. Each
// connection's writer goroutine drains its queue, encodes every pending packet
// with mqtt.AppendPublish into one buffer and writes it with one Write (one
// WebSocket message).
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
// 0x85. Only clean sessions exist yet: CleanSession=0 or Clean Start=0 is
// served as a clean session with session present 0, and a 5.0 Session Expiry
// Interval is answered with 0. A principal's connections beyond
// Config.MaxConnsPerPrincipal are refused with 0x03 / 0x97. Persistent sessions will plug in at the
// handshake (resume instead of create) and in session, whose queue a cursor
// into the Log will replace.
//
// Keepalive: no packet for 1.5 × keepalive closes the connection (0x8D on
// 5.0); 0 turns the check off [MQTT-3.1.2-24]. Token expiry closes with 0xA0;
// CloseSessions, CloseUser, CloseOrg and ClosePrincipal close with 0x87 (§6.7).
// Authenticator.Touch is called at CONNECT and then, while packets arrive, at
// most once a minute. A malformed packet, a protocol error or a packet over
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
// and RETAIN is ignored. Notifications are never delivered retained. Retained
// messages on other topics are not implemented yet (Retain Available is 0; a
// 5.0 RETAIN=1 there gets DISCONNECT 0x9A, a 3.1.1 one is stored as normal).
//
// # QoS and limits
//
// Messages are stored as QoS 2 and delivered at the subscription's granted QoS;
// a session matched by several of its filters gets one copy at the highest
// [MQTT-3.3.5-1]. Outbound QoS 1 and 2 use per-session packet ids, at most
// min(MaxInflight, Receive Maximum) in flight; later messages wait in order.
// Messages larger than a 5.0 client's Maximum Packet Size are skipped and
// counted. The server uses no topic aliases (Topic Alias Maximum 0) and a
// client's alias gets DISCONNECT 0x94. Subscription identifiers are not
// supported (announced as such; a SUBSCRIBE with one gets 0xA1). No Local is
// not honoured yet.
//
// # Overflow policy
//
// A session's queue holds at most Config.MaxQueue messages. When it is full a
// QoS 0 delivery is dropped and counted (Stats.Drops.QueueFullQoS0); a QoS 1
// or 2 delivery on a clean session is dropped, counted (QueueFullQoS1) and
// logged at warn once per overflow episode. A persistent session will instead
// leave such messages in the log and resend them from its cursor. Deliver never
// waits for a client; a client that does not read is disconnected after
// Config.WriteTimeout.
//
// # Goroutines
//
//   - ServeConn runs in its caller's goroutine (the WebSocket handler's, or the
//     one a TCP listener started) and is the connection's reader. It returns
//     when the connection ends, after waiting for the writer.
//   - One writer goroutine per established connection (conn.writeLoop). It
//     exits when the connection's context is done (client gone, protocol
//     error, takeover, revocation, expiry, keepalive, Close, or the ServeConn
//     context), after sending the 5.0 DISCONNECT and closing the net.Conn.
//   - Timers (keepalive, token expiry, and during CONNECT a close-on-cancel
//     hook) only request a close; they are stopped when ServeConn returns.
//   - Close waits, through a WaitGroup, for every ServeConn to return; its
//     helper goroutine exits when they have.
//
// # Locks
//
// Broker.mu guards the connection and session tables; Broker.deliverMu
// serialises Deliver; the topic.Index has its own lock; session.mu guards one
// session's queue, acknowledgements and in-flight window. Lock order:
// Broker.deliverMu → topic.Index (only inside AppendMatches, released before
// any session is touched) → session.mu. Broker.mu is never held with another
// of these locks; closing a connection under Broker.mu only cancels a context.
package broker
