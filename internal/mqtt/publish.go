package mqtt

// Publish is a PUBLISH packet (MQTT 5.0 §3.3, 3.1.1 §3.3).
//
// A decoded Publish's Payload aliases the buffer it was decoded from: the
// Reader's buffer until the next ReadPacket, or the slice given to Decode.
// Use Clone to keep it longer. Every other field is a copy.
type Publish struct {
	Dup      bool
	QoS      byte
	Retain   bool
	Topic    string
	PacketID uint16 // present only when QoS > 0
	Props    *Properties
	Payload  []byte // nil when empty
}

// Type returns TypePublish.
func (*Publish) Type() Type { return TypePublish }

// Clone returns a deep copy of p whose Payload no longer aliases any buffer.
func (p *Publish) Clone() *Publish {
	c := *p
	c.Props = p.Props.Clone()
	c.Payload = cloneBytes(p.Payload)
	return &c
}

// Header returns the per-delivery fields of p for AppendPublish.
func (p *Publish) Header() PublishHeader {
	h := PublishHeader{Dup: p.Dup, QoS: p.QoS, Retain: p.Retain, PacketID: p.PacketID}
	if p.Props != nil {
		h.SubscriptionIDs = p.Props.SubscriptionIdentifiers
	}
	return h
}

// Append appends the PUBLISH encoded for version to dst; see Packet. It does
// not allocate when dst has room for the packet plus, in 5.0, its encoded
// properties (used as scratch space). For fan-out, prefer AppendPublish.
func (p *Publish) Append(dst []byte, version byte) ([]byte, error) {
	if version != Version311 && version != Version5 {
		return dst, &EncodeError{Type: TypePublish, Msg: "unsupported protocol version"}
	}
	h := p.Header()
	var props []byte
	if version == Version5 && p.Props != nil {
		if p.Props.mask()&^allowedProps[TypePublish] != 0 {
			return dst, &EncodeError{Type: TypePublish, Msg: "property not allowed on this packet"}
		}
		// Encode the properties other than the subscription identifiers,
		// which AppendPublish adds from h, after the fixed header's room:
		// AppendPublish needs their length before it writes the header.
		q := *p.Props
		q.SubscriptionIdentifiers = nil
		at := len(dst)
		var err error
		if dst, err = q.Encode(dst); err != nil {
			return dst[:at], err
		}
		// Move the properties out of the way by encoding the packet after
		// them, then shift the packet down over them.
		props = dst[at:]
		out, err := AppendPublish(dst, version, h, p.Topic, props, p.Payload)
		if err != nil {
			return dst[:at], err
		}
		n := copy(out[at:], out[len(dst):])
		return out[:at+n], nil
	}
	return AppendPublish(dst, version, h, p.Topic, props, p.Payload)
}

// PublishHeader holds what differs between the copies of one message sent to
// several subscribers: the fixed-header flags, the packet identifier and, in
// 5.0, the subscription identifiers of the matching subscriptions.
type PublishHeader struct {
	Dup             bool
	QoS             byte
	Retain          bool
	PacketID        uint16   // written only when QoS > 0; must then be non-zero
	SubscriptionIDs []uint32 // 5.0 only; each 1 to 268435455
}

// PublishSize returns the encoded size of the PUBLISH that AppendPublish
// would append for the same arguments, so a caller can size a buffer once.
func PublishSize(version byte, h PublishHeader, topic string, props, payload []byte) int {
	n := 2 + len(topic) + len(payload)
	if h.QoS > 0 {
		n += 2
	}
	if version == Version5 {
		pl := len(props)
		for _, id := range h.SubscriptionIDs {
			pl += 1 + varintLen(int(id))
		}
		n += varintLen(pl) + pl
	}
	return 1 + varintLen(n) + n
}

// AppendPublish appends a PUBLISH packet to dst and returns the extended
// slice. It is the fan-out path: the topic, the pre-encoded shared properties
// props (from Properties.Encode, without Property Length; ignored in 3.1.1)
// and the payload are the same for every subscriber, h is per subscriber.
// It computes the packet's length first and writes each byte once, so it
// makes no allocation when cap(dst)-len(dst) >= PublishSize(...).
//
// It returns an error, and dst unchanged, when h.QoS > 2, the packet
// identifier is 0 with QoS > 0, a subscription identifier is out of range,
// the topic is longer than 65535 bytes or the packet longer than
// MaxPacketSize. It does not check the topic's UTF-8 or the content of props.
func AppendPublish(dst []byte, version byte, h PublishHeader, topic string, props, payload []byte) ([]byte, error) {
	switch {
	case version != Version311 && version != Version5:
		return dst, errPublishVersion
	case h.QoS > 2:
		// [MQTT-3.3.1-4] QoS 3 is never sent.
		return dst, errPublishQoS
	case h.QoS > 0 && h.PacketID == 0:
		// [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]) QoS 1 and 2 need a
		// non-zero packet identifier.
		return dst, errPublishPacketID
	case len(topic) > MaxStringLength:
		return dst, errPublishTopic
	}
	rl := 2 + len(topic) + len(payload)
	if h.QoS > 0 {
		rl += 2
	}
	pl := 0
	if version == Version5 {
		pl = len(props)
		for _, id := range h.SubscriptionIDs {
			if id == 0 || id > MaxRemainingLength {
				return dst, errPublishSubID
			}
			pl += 1 + varintLen(int(id))
		}
		rl += varintLen(pl) + pl
	}
	if rl > MaxRemainingLength || rl < 0 {
		return dst, errPublishSize
	}
	b := byte(TypePublish)<<4 | h.QoS<<1
	if h.Dup {
		b |= publishDup
	}
	if h.Retain {
		b |= publishRetain
	}
	if need := 1 + varintLen(rl) + rl; cap(dst)-len(dst) < need {
		// One allocation for the whole packet instead of append's several:
		// exactly sized for the first packet in dst, doubling after that, so
		// that a writer appending a burst of packets into one buffer copies
		// it O(1) times per packet, not once per packet appended.
		n := len(dst) + need
		if len(dst) > 0 {
			n = max(n, 2*cap(dst))
		}
		grown := make([]byte, len(dst), n)
		copy(grown, dst)
		dst = grown
	}
	dst = appendVarint(append(dst, b), rl)
	dst = appendString(dst, topic)
	if h.QoS > 0 {
		dst = appendUint16(dst, h.PacketID)
	}
	if version == Version5 {
		dst = appendVarint(dst, pl)
		dst = append(dst, props...)
		for _, id := range h.SubscriptionIDs {
			dst = appendVarint(append(dst, byte(PropSubscriptionIdentifier)), int(id))
		}
	}
	return append(dst, payload...), nil
}

// Errors of AppendPublish, allocated once so that the fan-out path never
// allocates.
var (
	errPublishVersion  = &EncodeError{Type: TypePublish, Msg: "unsupported protocol version"}
	errPublishQoS      = &EncodeError{Type: TypePublish, Msg: "QoS greater than 2"}
	errPublishPacketID = &EncodeError{Type: TypePublish, Msg: "packet identifier 0 with QoS > 0"}
	errPublishTopic    = &EncodeError{Type: TypePublish, Msg: "topic longer than 65535 bytes"}
	errPublishSubID    = &EncodeError{Type: TypePublish, Msg: "subscription identifier out of range"}
	errPublishSize     = &EncodeError{Type: TypePublish, Msg: "packet longer than the maximum remaining length"}
)

func decodePublish(d *decoder, flags, version byte) (*Publish, error) {
	p := &Publish{
		Dup:    flags&publishDup != 0,
		QoS:    flags & publishQoS >> 1,
		Retain: flags&publishRetain != 0,
	}
	// [MQTT-3.3.1-4] A PUBLISH must not have both QoS bits set.
	if p.QoS == 3 {
		return nil, malformed("publish QoS 3")
	}
	// [MQTT-3.3.1-2] The DUP flag must be 0 for QoS 0 messages.
	if p.Dup && p.QoS == 0 {
		return nil, protocolErr("publish DUP set with QoS 0")
	}
	// [MQTT-3.3.2-1] The Topic Name is a UTF-8 Encoded String. Its grammar
	// (no wildcards, not empty without a Topic Alias) is the caller's check.
	var err error
	if p.Topic, err = d.string(); err != nil {
		return nil, err
	}
	if p.QoS > 0 {
		if p.PacketID, err = d.uint16(); err != nil {
			return nil, err
		}
		// [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]) non-zero packet identifier.
		if p.PacketID == 0 {
			return nil, protocolErr("publish packet identifier 0")
		}
	}
	if version == Version5 {
		if p.Props, err = decodeProperties(d, TypePublish); err != nil {
			return nil, err
		}
	}
	p.Payload = d.rest()
	return p, nil
}
