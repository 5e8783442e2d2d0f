package mqtt

import "fmt"

// Connect is a CONNECT packet (MQTT 5.0 §3.1, 3.1.1 §3.1).
type Connect struct {
	// ProtocolVersion is the protocol level read from the packet: Version311
	// or Version5, or, with ErrUnsupportedProtocolVersion, the level that was
	// refused. Append ignores it and writes its version argument.
	ProtocolVersion byte
	CleanStart      bool   // Clean Start (5.0), Clean Session (3.1.1)
	KeepAlive       uint16 // seconds; 0 turns the keep-alive check off
	Props           *Properties
	ClientID        string
	Will            *Will // nil when the Will Flag is 0
	UsernameFlag    bool  // a User Name is present, possibly empty
	Username        string
	PasswordFlag    bool   // a Password is present, possibly empty
	Password        []byte // a copy, never aliasing the reader's buffer
}

// Will is the will message of a CONNECT.
type Will struct {
	QoS     byte
	Retain  bool
	Props   *Properties // will properties (5.0)
	Topic   string
	Payload []byte // a copy, never aliasing the reader's buffer; nil when empty
}

// Type returns TypeConnect.
func (*Connect) Type() Type { return TypeConnect }

// CONNECT flag bits (§3.1.2.3).
const (
	connReserved     = 0x01
	connCleanStart   = 0x02
	connWill         = 0x04
	connWillQoSShift = 3
	connWillRetain   = 0x20
	connPassword     = 0x40
	connUsername     = 0x80
)

// Append appends the CONNECT encoded for version to dst; see Packet.
func (c *Connect) Append(dst []byte, version byte) ([]byte, error) {
	e := newEncoder(dst, TypeConnect)
	if version != Version311 && version != Version5 {
		e.fail("unsupported protocol version")
	}
	e.string("MQTT")
	var flags byte
	if c.CleanStart {
		flags |= connCleanStart
	}
	if w := c.Will; w != nil {
		if w.QoS > 2 {
			e.fail("will QoS greater than 2")
		}
		flags |= connWill | (w.QoS&3)<<connWillQoSShift
		if w.Retain {
			flags |= connWillRetain
		}
	}
	if c.UsernameFlag {
		flags |= connUsername
	}
	if c.PasswordFlag {
		flags |= connPassword
		if version == Version311 && !c.UsernameFlag {
			// [MQTT-3.1.2-22] (3.1.1) No password without a user name.
			e.fail("password without user name in 3.1.1")
		}
	}
	e.dst = append(e.dst, version, flags)
	e.dst = appendUint16(e.dst, c.KeepAlive)
	if version == Version5 {
		e.properties(c.Props, TypeConnect)
	}
	e.string(c.ClientID)
	if w := c.Will; w != nil {
		if version == Version5 {
			e.properties(w.Props, propWill)
		}
		e.string(w.Topic)
		e.binary(w.Payload)
	}
	if c.UsernameFlag {
		e.string(c.Username)
	}
	if c.PasswordFlag {
		e.binary(c.Password)
	}
	return e.finish(0)
}

// decodeConnect decodes a CONNECT body. It ignores the negotiated version:
// the packet declares its own.
func decodeConnect(d *decoder) (*Connect, error) {
	name, err := d.binary()
	if err != nil {
		return nil, err
	}
	level, err := d.byte()
	if err != nil {
		return nil, err
	}
	switch {
	case string(name) == "MQIsdp" && level == Version31:
		// MQTT 3.1 is recognised only to be refused with CONNACK 0x01.
		return &Connect{ProtocolVersion: level}, fmt.Errorf("mqtt: connect protocol MQIsdp level 3: %w", ErrUnsupportedProtocolVersion)
	case string(name) != "MQTT":
		// [MQTT-3.1.2-1] The server must not continue to process a CONNECT
		// with an incorrect protocol name.
		return nil, protocolErr("connect protocol name is not MQTT")
	case level != Version311 && level != Version5:
		// [MQTT-3.1.2-2] An unsupported level is answered with CONNACK 0x01
		// (3.1.1) or 0x84 (5.0), then the connection is closed.
		return &Connect{ProtocolVersion: level}, fmt.Errorf("mqtt: connect protocol level %d: %w", level, ErrUnsupportedProtocolVersion)
	}
	c := &Connect{ProtocolVersion: level}
	flags, err := d.byte()
	if err != nil {
		return nil, err
	}
	// [MQTT-3.1.2-3] The reserved flag must be 0, else Malformed Packet.
	if flags&connReserved != 0 {
		return nil, malformed("connect reserved flag set")
	}
	c.CleanStart = flags&connCleanStart != 0
	willQoS := flags >> connWillQoSShift & 3
	if flags&connWill == 0 {
		// [MQTT-3.1.2-11] Will QoS 0 and [MQTT-3.1.2-13] Will Retain 0
		// without a will (3.1.1: [MQTT-3.1.2-13], [MQTT-3.1.2-15]).
		if willQoS != 0 || flags&connWillRetain != 0 {
			return nil, malformed("will QoS or retain set without will flag")
		}
	} else if willQoS == 3 {
		// [MQTT-3.1.2-12] Will QoS 3 is a Malformed Packet.
		return nil, malformed("will QoS 3")
	}
	c.UsernameFlag = flags&connUsername != 0
	c.PasswordFlag = flags&connPassword != 0
	if level == Version311 && c.PasswordFlag && !c.UsernameFlag {
		// [MQTT-3.1.2-22] (3.1.1) No password without a user name.
		return nil, malformed("password flag without user name flag")
	}
	if c.KeepAlive, err = d.uint16(); err != nil {
		return nil, err
	}
	if level == Version5 {
		if c.Props, err = decodeProperties(d, TypeConnect); err != nil {
			return nil, err
		}
	}
	// [MQTT-3.1.3-4] (5.0: [MQTT-3.1.3-4]) The Client Identifier is a UTF-8
	// Encoded String.
	if c.ClientID, err = d.string(); err != nil {
		return nil, err
	}
	if flags&connWill != 0 {
		w := &Will{QoS: willQoS, Retain: flags&connWillRetain != 0}
		if level == Version5 {
			if w.Props, err = decodeProperties(d, propWill); err != nil {
				return nil, err
			}
		}
		// [MQTT-3.1.3-11] (5.0) The Will Topic is a UTF-8 Encoded String.
		if w.Topic, err = d.string(); err != nil {
			return nil, err
		}
		if w.Payload, err = d.binaryCopy(); err != nil {
			return nil, err
		}
		c.Will = w
	}
	if c.UsernameFlag {
		// [MQTT-3.1.3-12] (5.0) The User Name is a UTF-8 Encoded String.
		if c.Username, err = d.string(); err != nil {
			return nil, err
		}
	}
	if c.PasswordFlag {
		if c.Password, err = d.binaryCopy(); err != nil {
			return nil, err
		}
	}
	if d.remaining() != 0 {
		return nil, malformed("bytes after connect payload")
	}
	return c, nil
}

// Connack is a CONNACK packet (MQTT 5.0 §3.2, 3.1.1 §3.2). In 3.1.1,
// ReasonCode holds a return code (ConnAccepted … ConnRefusedNotAuthorized).
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Props          *Properties
}

// Type returns TypeConnack.
func (*Connack) Type() Type { return TypeConnack }

// Append appends the CONNACK encoded for version to dst; see Packet.
func (c *Connack) Append(dst []byte, version byte) ([]byte, error) {
	e := newEncoder(dst, TypeConnack)
	var flags byte
	if c.SessionPresent {
		// [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]) A refusal never has Session
		// Present set.
		if c.ReasonCode != 0 {
			e.fail("session present with a non-zero reason code")
		}
		flags = 1
	}
	switch version {
	case Version311:
		if !connack311Codes.has(c.ReasonCode) {
			e.fail("return code not defined in 3.1.1")
		}
		e.dst = append(e.dst, flags, byte(c.ReasonCode))
	case Version5:
		if !connackReasons.has(c.ReasonCode) {
			e.fail("reason code not allowed on connack")
		}
		e.dst = append(e.dst, flags, byte(c.ReasonCode))
		e.properties(c.Props, TypeConnack)
	default:
		e.fail("unsupported protocol version")
	}
	return e.finish(0)
}

func decodeConnack(d *decoder, version byte) (*Connack, error) {
	flags, err := d.byte()
	if err != nil {
		return nil, err
	}
	// [MQTT-3.2.2-1] Bits 7-1 of the Connect Acknowledge Flags are reserved.
	if flags&^1 != 0 {
		return nil, malformed("connack reserved flags set")
	}
	code, err := d.byte()
	if err != nil {
		return nil, err
	}
	c := &Connack{SessionPresent: flags == 1, ReasonCode: ReasonCode(code)}
	if version == Version5 {
		if !connackReasons.has(c.ReasonCode) {
			return nil, malformed("reason code not allowed on connack")
		}
		if c.Props, err = decodeProperties(d, TypeConnack); err != nil {
			return nil, err
		}
	} else if !connack311Codes.has(c.ReasonCode) {
		return nil, malformed("connack return code not defined in 3.1.1")
	}
	if c.SessionPresent && code != 0 {
		// [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]).
		return nil, protocolErr("connack session present with a non-zero reason code")
	}
	if d.remaining() != 0 {
		return nil, malformed("bytes after connack")
	}
	return c, nil
}
