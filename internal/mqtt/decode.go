package mqtt

import "io"

// Decode decodes the packet at the start of b for the negotiated protocol
// level version (Version311 or Version5; ignored for CONNECT, which declares
// its own) and returns it with the number of bytes it took. When b holds only
// part of a packet it returns io.ErrUnexpectedEOF. Errors about the packet
// itself are *ProtocolError values carrying the reason code to report. With
// ErrUnsupportedProtocolVersion it also returns the *Connect (see there).
//
// Decode does not limit the packet size; use a Reader for streams. The
// returned packet's Publish.Payload aliases b.
func Decode(b []byte, version byte) (Packet, int, error) {
	rl, n, err := ParseRemainingLength(b[min(1, len(b)):])
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 2 || n == 0 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	size := 1 + n + rl
	if len(b) < size {
		return nil, 0, io.ErrUnexpectedEOF
	}
	p, err := decodePacket(b[0], b[1+n:size], version)
	return p, size, err
}

// decodePacket decodes a packet from its first byte and its body.
func decodePacket(first byte, body []byte, version byte) (Packet, error) {
	t, flags := Type(first>>4), first&0x0f
	switch {
	case t == 0:
		return nil, malformed("reserved packet type 0")
	case t != TypePublish && flags != fixedFlags(t):
		// [MQTT-2.1.3-1] (3.1.1: [MQTT-2.2.2-1], [MQTT-2.2.2-2]) Reserved
		// fixed-header flags must have the specified values; others make a
		// Malformed Packet.
		return nil, malformed(t.String() + " fixed header flags invalid")
	case t == TypeConnect:
		d := decoder{b: body}
		return result(decodeConnect(&d))
	case version != Version311 && version != Version5:
		// [MQTT-3.1.0-1] CONNECT comes first and sets the version.
		return nil, errVersion
	case t == TypeAuth && version != Version5:
		// AUTH is a reserved type in 3.1.1.
		return nil, malformed("AUTH packet in MQTT 3.1.1")
	}
	d := decoder{b: body}
	switch t {
	case TypeConnack:
		return result(decodeConnack(&d, version))
	case TypePublish:
		return result(decodePublish(&d, flags, version))
	case TypePuback:
		id, rc, props, err := decodeAck(&d, version, t)
		if err != nil {
			return nil, err
		}
		return &Puback{PacketID: id, ReasonCode: rc, Props: props}, nil
	case TypePubrec:
		id, rc, props, err := decodeAck(&d, version, t)
		if err != nil {
			return nil, err
		}
		return &Pubrec{PacketID: id, ReasonCode: rc, Props: props}, nil
	case TypePubrel:
		id, rc, props, err := decodeAck(&d, version, t)
		if err != nil {
			return nil, err
		}
		return &Pubrel{PacketID: id, ReasonCode: rc, Props: props}, nil
	case TypePubcomp:
		id, rc, props, err := decodeAck(&d, version, t)
		if err != nil {
			return nil, err
		}
		return &Pubcomp{PacketID: id, ReasonCode: rc, Props: props}, nil
	case TypeSubscribe:
		return result(decodeSubscribe(&d, version))
	case TypeSuback:
		return result(decodeSuback(&d, version))
	case TypeUnsubscribe:
		return result(decodeUnsubscribe(&d, version))
	case TypeUnsuback:
		return result(decodeUnsuback(&d, version))
	case TypePingreq, TypePingresp:
		// §3.12.1, §3.13.1: no variable header, no payload.
		if len(body) != 0 {
			return nil, malformed(t.String() + " with a body")
		}
		if t == TypePingreq {
			return &Pingreq{}, nil
		}
		return &Pingresp{}, nil
	case TypeDisconnect:
		rc, props, err := decodeReasonOnly(&d, version, t, &disconnectReasons)
		if err != nil {
			return nil, err
		}
		return &Disconnect{ReasonCode: rc, Props: props}, nil
	default: // TypeAuth
		rc, props, err := decodeReasonOnly(&d, version, t, &authReasons)
		if err != nil {
			return nil, err
		}
		return &Auth{ReasonCode: rc, Props: props}, nil
	}
}

// result converts a concrete decoder's result to a Packet without turning a
// nil pointer into a non-nil interface.
func result[T any](p *T, err error) (Packet, error) {
	if p == nil {
		return nil, err
	}
	return any(p).(Packet), err
}
