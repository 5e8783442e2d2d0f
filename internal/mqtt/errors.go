package mqtt

import "errors"

// ProtocolError reports a packet that violates the specification. Reason is
// the MQTT 5.0 reason code the server should send (in a CONNACK before the
// session is established, in a DISCONNECT after) before closing the network
// connection; a 3.1.1 connection is simply closed. Compare with errors.As.
type ProtocolError struct {
	Reason ReasonCode // ReasonMalformedPacket, ReasonProtocolError, ReasonPacketTooLarge, …
	Msg    string     // what was wrong, lower case, for logs
}

// Error returns "mqtt: " followed by the message and the reason code.
func (e *ProtocolError) Error() string {
	return "mqtt: " + e.Msg + " (" + e.Reason.String() + ")"
}

// Sentinel errors. Each is a *ProtocolError, so errors.As also yields the
// reason code; errors returned by this package wrap them with detail.
var (
	// ErrPacketTooLarge reports a packet whose declared size exceeds the
	// Reader's limit. It is returned before the body is read or allocated; the
	// stream cannot be resynchronised and the connection must be closed.
	ErrPacketTooLarge = &ProtocolError{Reason: ReasonPacketTooLarge, Msg: "packet too large"}

	// ErrUnsupportedProtocolVersion reports a CONNECT with a protocol level
	// other than 4 or 5 ("MQIsdp" level 3, or "MQTT" with another level).
	// Reader.ReadPacket and Decode return it together with a *Connect that has
	// only ProtocolVersion set, so that the server can answer with a 3.1.1
	// CONNACK carrying ConnRefusedProtocolVersion (0x01) and close
	// [MQTT-3.1.2-2].
	ErrUnsupportedProtocolVersion = &ProtocolError{Reason: ReasonUnsupportedProtocolVersion, Msg: "unsupported protocol version"}
)

// errVersion is returned when a packet other than CONNECT is decoded before a
// protocol version is known.
var errVersion = &ProtocolError{Reason: ReasonProtocolError, Msg: "protocol version not negotiated"}

func malformed(msg string) error { return &ProtocolError{Reason: ReasonMalformedPacket, Msg: msg} }

func protocolErr(msg string) error { return &ProtocolError{Reason: ReasonProtocolError, Msg: msg} }

// ReasonOf returns the reason code carried by err if it is or wraps a
// *ProtocolError, and ReasonUnspecifiedError otherwise.
func ReasonOf(err error) ReasonCode {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ReasonUnspecifiedError
}

// EncodeError reports a packet that cannot be encoded; it indicates a bug in
// the caller, never bad input from the network.
type EncodeError struct {
	Type Type   // packet being encoded
	Msg  string // what was wrong
}

// Error returns "mqtt: encode" followed by the packet type and the message.
func (e *EncodeError) Error() string { return "mqtt: encode " + e.Type.String() + ": " + e.Msg }
