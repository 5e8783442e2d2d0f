package mqtt

// Puback is a PUBACK packet (MQTT 5.0 §3.4, 3.1.1 §3.4): the QoS 1 reply.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode  // 5.0 only
	Props      *Properties // 5.0 only
}

// Pubrec is a PUBREC packet (MQTT 5.0 §3.5, 3.1.1 §3.5): QoS 2, part 1.
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode  // 5.0 only
	Props      *Properties // 5.0 only
}

// Pubrel is a PUBREL packet (MQTT 5.0 §3.6, 3.1.1 §3.6): QoS 2, part 2.
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode  // 5.0 only
	Props      *Properties // 5.0 only
}

// Pubcomp is a PUBCOMP packet (MQTT 5.0 §3.7, 3.1.1 §3.7): QoS 2, part 3.
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode  // 5.0 only
	Props      *Properties // 5.0 only
}

// Type returns TypePuback.
func (*Puback) Type() Type { return TypePuback }

// Type returns TypePubrec.
func (*Pubrec) Type() Type { return TypePubrec }

// Type returns TypePubrel.
func (*Pubrel) Type() Type { return TypePubrel }

// Type returns TypePubcomp.
func (*Pubcomp) Type() Type { return TypePubcomp }

// Append appends the PUBACK encoded for version to dst; see Packet.
func (p *Puback) Append(dst []byte, version byte) ([]byte, error) {
	return appendAck(dst, version, TypePuback, p.PacketID, p.ReasonCode, p.Props)
}

// Append appends the PUBREC encoded for version to dst; see Packet.
func (p *Pubrec) Append(dst []byte, version byte) ([]byte, error) {
	return appendAck(dst, version, TypePubrec, p.PacketID, p.ReasonCode, p.Props)
}

// Append appends the PUBREL encoded for version to dst; see Packet.
func (p *Pubrel) Append(dst []byte, version byte) ([]byte, error) {
	return appendAck(dst, version, TypePubrel, p.PacketID, p.ReasonCode, p.Props)
}

// Append appends the PUBCOMP encoded for version to dst; see Packet.
func (p *Pubcomp) Append(dst []byte, version byte) ([]byte, error) {
	return appendAck(dst, version, TypePubcomp, p.PacketID, p.ReasonCode, p.Props)
}

// ackReasons returns the reason codes allowed on a PUBACK, PUBREC, PUBREL or
// PUBCOMP (§3.4.2.1, §3.5.2.1, §3.6.2.1, §3.7.2.1).
func ackReasons(t Type) *reasonSet {
	if t == TypePuback || t == TypePubrec {
		return &pubackReasons
	}
	return &pubrelReasons
}

// fixedFlags returns the fixed-header flags every packet but PUBLISH must
// carry: 0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0000 for the others
// (MQTT 5.0 §2.1.3, 3.1.1 §2.2.2).
func fixedFlags(t Type) byte {
	switch t {
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0x02
	}
	return 0
}

// appendAck encodes the four publish acknowledgements. In 5.0 it uses the
// shortest form the specification allows: the Reason Code is left out when it
// is 0 and there are no properties, the Property Length when there are none
// (§3.4.2.1).
func appendAck(dst []byte, version byte, t Type, id uint16, rc ReasonCode, props *Properties) ([]byte, error) {
	e := newEncoder(dst, t)
	if id == 0 {
		e.fail("packet identifier 0")
	}
	e.dst = appendUint16(e.dst, id)
	e.shortReason(version, t, rc, props, ackReasons(t))
	return e.finish(fixedFlags(t))
}

func decodeAck(d *decoder, version byte, t Type) (id uint16, rc ReasonCode, props *Properties, err error) {
	if id, err = d.uint16(); err != nil {
		return 0, 0, nil, err
	}
	// [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]) Acknowledgements carry the
	// non-zero identifier of the packet they acknowledge.
	if id == 0 {
		return 0, 0, nil, protocolErr(t.String() + " packet identifier 0")
	}
	if version == Version5 && d.remaining() > 0 {
		// §3.4.2.1: with a Remaining Length of 2 the Reason Code is 0x00;
		// with less than 4 there is no Property Length.
		c, _ := d.byte()
		rc = ReasonCode(c)
		if !ackReasons(t).has(rc) {
			return 0, 0, nil, malformed("reason code " + rc.String() + " not allowed on " + t.String())
		}
		if d.remaining() > 0 {
			if props, err = decodeProperties(d, t); err != nil {
				return 0, 0, nil, err
			}
		}
	}
	if d.remaining() != 0 {
		return 0, 0, nil, malformed("bytes after " + t.String())
	}
	return id, rc, props, nil
}
