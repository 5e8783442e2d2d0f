// Package mqtt encodes and decodes the MQTT control packets of MQTT 3.1.1
// (protocol level 4) and MQTT 5.0 (level 5). It is pure: it does no network
// I/O of its own, keeps no state between packets other than the Reader's
// buffer and negotiated version, and imports only the standard library.
//
// # Packets
//
// Each of the 15 control packets is a struct: Connect (with Will), Connack,
// Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe (with Subscription),
// Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect and Auth. All
// implement Packet. MQTT 5.0 properties are a *Properties (nil when there are
// none), with user properties as an ordered []UserProperty. Reason codes are
// ReasonCode constants: the 5.0 codes (ReasonNotAuthorized, …) and the 3.1.1
// CONNACK return codes (ConnRefusedNotAuthorized, …). The same struct serves
// both versions; fields that 3.1.1 lacks are ignored when encoding for it.
//
// # Decoding
//
// A Reader wraps an io.Reader (a net.Conn, or a WebSocket message stream)
// and returns one packet per ReadPacket call, however the bytes arrive: a
// read may carry several packets or part of one. Decode does the same for a
// byte slice that holds whole packets.
//
// The version used to decode a packet is the Reader's: it is unset at first,
// when only CONNECT can be decoded, and set from each CONNECT that decodes
// (or by SetVersion, for a client). A CONNECT with protocol level 3
// ("MQIsdp", MQTT 3.1) or another unsupported level returns the *Connect
// with ProtocolVersion set and an error wrapping ErrUnsupportedProtocolVersion,
// so the server can answer CONNACK 0x01 in 3.1.1 format and close.
//
// The decoder checks what the specifications require of a packet's form, and
// cites them at the point of check ([MQTT-x.y.z-n]): fixed-header flags, the
// Remaining Length (at most four bytes, shortest form), UTF-8 strings
// (well-formed, no U+0000), QoS 3, non-zero packet identifiers, at least one
// filter in SUBSCRIBE and UNSUBSCRIBE, subscription option bits, reason codes
// allowed per packet, properties allowed per packet and not repeated (except
// User Property, and Subscription Identifier on PUBLISH), and property values
// the specification restricts. Every such error is a *ProtocolError whose
// Reason is the 5.0 reason code to send before closing: 0x81 Malformed
// Packet, 0x82 Protocol Error, 0x84 Unsupported Protocol Version or 0x95
// Packet Too Large; ReasonOf extracts it. Checks that depend on the session
// or on topic grammar (wildcards in topic names, empty topics, shared
// subscriptions, topic aliases, client identifier rules, payload format
// validation, direction of a packet) are left to the caller.
//
// # Limits
//
// NewReader takes a maximum packet size, counted as MQTT 5.0's Maximum
// Packet Size is (the whole packet, fixed header included). A larger packet
// is refused with an error wrapping ErrPacketTooLarge as soon as its
// Remaining Length is read, before any byte of its body is read or any
// buffer for it is allocated. The Reader's buffer starts at 4 KiB, grows to
// the size of a larger packet (never beyond the limit) and is released after
// such a packet has been consumed, so idle connections hold little memory.
// What a decoded packet allocates is bounded by the packet's size. After any
// error the Reader returns that error forever: an MQTT stream cannot be
// resynchronised and the connection must be closed.
//
// # Aliasing
//
// Publish.Payload of a decoded packet aliases the Reader's buffer, valid only
// until the next ReadPacket (or, with Decode, aliases the input slice). This
// saves a copy on the publish path; call Publish.Clone to keep a message.
// Every other field of a decoded packet, strings and binary properties
// included, is a copy.
//
// # Encoding
//
// Packet.Append(dst, version) appends the encoded packet to dst and returns
// the extended slice, so the caller owns and reuses buffers (for instance one
// write buffer per connection, into which a writer coalesces all pending
// packets). With enough capacity in dst it does not allocate. It refuses,
// with an *EncodeError, what the decoder would refuse, except that it does
// not re-check the UTF-8 of strings: a packet that fails to encode is a bug
// in the caller.
//
// The fan-out path is AppendPublish: a notification's topic, payload and
// shared properties (pre-encoded once with Properties.Encode) are the same
// for every subscriber; only a PublishHeader (DUP, QoS, RETAIN, packet
// identifier, 5.0 subscription identifiers) differs. AppendPublish computes
// the packet size up front and copies each part once, with no allocation
// when dst has PublishSize bytes of room.
//
// # Canonical form
//
// Encoding is canonical: the shortest Remaining Length, properties in
// identifier order, and the short forms of acknowledgements, DISCONNECT and
// AUTH when the reason is 0 and there are no properties. Decoding then
// encoding a canonical packet gives back the same bytes; for any packet that
// decodes, encoding gives bytes that decode to the same packet. An empty
// string or binary property decodes as absent; an empty password, will
// payload or payload decodes as nil (the CONNECT flags are kept).
package mqtt
