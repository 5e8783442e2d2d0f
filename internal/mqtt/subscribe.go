package mqtt

// Subscription is one topic filter of a SUBSCRIBE with its options (MQTT 5.0
// §3.8.3.1). In 3.1.1 only Filter and QoS exist.
type Subscription struct {
	Filter            string
	QoS               byte // maximum QoS: 0, 1 or 2
	NoLocal           bool // 5.0: do not send back the subscriber's own messages
	RetainAsPublished bool // 5.0: keep the RETAIN flag of forwarded messages
	RetainHandling    byte // 5.0: 0 send retained, 1 only for new subscriptions, 2 never
}

// Subscription option bits (§3.8.3.1).
const (
	subQoS               = 0x03
	subNoLocal           = 0x04
	subRetainAsPublished = 0x08
	subRetainHandling    = 0x30
	subReserved5         = 0xC0
	subReserved311       = 0xFC
)

// Subscribe is a SUBSCRIBE packet (MQTT 5.0 §3.8, 3.1.1 §3.8).
type Subscribe struct {
	PacketID      uint16
	Props         *Properties // 5.0: at most one subscription identifier
	Subscriptions []Subscription
}

// Type returns TypeSubscribe.
func (*Subscribe) Type() Type { return TypeSubscribe }

// Append appends the SUBSCRIBE encoded for version to dst; see Packet.
func (s *Subscribe) Append(dst []byte, version byte) ([]byte, error) {
	e := newEncoder(dst, TypeSubscribe)
	if s.PacketID == 0 {
		e.fail("packet identifier 0")
	}
	if len(s.Subscriptions) == 0 {
		e.fail("no topic filters")
	}
	e.dst = appendUint16(e.dst, s.PacketID)
	if version == Version5 {
		e.properties(s.Props, TypeSubscribe)
	} else if version != Version311 {
		e.fail("unsupported protocol version")
	}
	for _, sub := range s.Subscriptions {
		e.string(sub.Filter)
		if sub.QoS > 2 || sub.RetainHandling > 2 {
			e.fail("subscription QoS or retain handling out of range")
		}
		opts := sub.QoS
		if version == Version5 {
			if sub.NoLocal {
				opts |= subNoLocal
			}
			if sub.RetainAsPublished {
				opts |= subRetainAsPublished
			}
			opts |= sub.RetainHandling << 4
		}
		e.dst = append(e.dst, opts)
	}
	return e.finish(fixedFlags(TypeSubscribe))
}

func decodeSubscribe(d *decoder, version byte) (*Subscribe, error) {
	s := new(Subscribe)
	var err error
	if s.PacketID, err = d.uint16(); err != nil {
		return nil, err
	}
	// [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]).
	if s.PacketID == 0 {
		return nil, protocolErr("subscribe packet identifier 0")
	}
	if version == Version5 {
		if s.Props, err = decodeProperties(d, TypeSubscribe); err != nil {
			return nil, err
		}
	}
	// [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3]) At least one filter.
	if d.remaining() == 0 {
		return nil, protocolErr("subscribe without topic filters")
	}
	// Each filter takes at least three bytes, which bounds the allocation.
	s.Subscriptions = make([]Subscription, 0, min(d.remaining()/3, 16))
	for d.remaining() > 0 {
		var sub Subscription
		// [MQTT-3.8.3-1] Topic Filters are UTF-8 Encoded Strings; their
		// grammar is the caller's check.
		if sub.Filter, err = d.string(); err != nil {
			return nil, err
		}
		opts, err := d.byte()
		if err != nil {
			return nil, err
		}
		sub.QoS = opts & subQoS
		if sub.QoS == 3 {
			// [MQTT-3.8.3-4] (3.1.1) / §3.8.3.1: QoS 3 is malformed.
			return nil, malformed("subscription QoS 3")
		}
		if version == Version5 {
			// [MQTT-3.8.3-5] Bits 7 and 6 are reserved.
			if opts&subReserved5 != 0 {
				return nil, malformed("subscription options reserved bits set")
			}
			sub.NoLocal = opts&subNoLocal != 0
			sub.RetainAsPublished = opts&subRetainAsPublished != 0
			sub.RetainHandling = opts & subRetainHandling >> 4
			// §3.8.3.1: Retain Handling 3 is a Protocol Error.
			if sub.RetainHandling == 3 {
				return nil, protocolErr("subscription retain handling 3")
			}
		} else if opts&subReserved311 != 0 {
			// [MQTT-3-8.3-4] (3.1.1) The upper six bits are reserved.
			return nil, malformed("subscription options reserved bits set")
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	return s, nil
}

// Suback is a SUBACK packet (MQTT 5.0 §3.9, 3.1.1 §3.9): one reason code per
// filter of the SUBSCRIBE, in order. In 3.1.1 the codes are 0, 1, 2 or
// SubackFailure; Append writes any failure code (0x80 and above) as
// SubackFailure there.
type Suback struct {
	PacketID    uint16
	Props       *Properties // 5.0 only
	ReasonCodes []ReasonCode
}

// Type returns TypeSuback.
func (*Suback) Type() Type { return TypeSuback }

// Append appends the SUBACK encoded for version to dst; see Packet.
func (s *Suback) Append(dst []byte, version byte) ([]byte, error) {
	e := newEncoder(dst, TypeSuback)
	if s.PacketID == 0 {
		e.fail("packet identifier 0")
	}
	if len(s.ReasonCodes) == 0 {
		e.fail("no reason codes")
	}
	e.dst = appendUint16(e.dst, s.PacketID)
	switch version {
	case Version311:
		for _, rc := range s.ReasonCodes {
			if rc.IsError() {
				rc = SubackFailure
			} else if rc > 2 {
				e.fail("return code not defined in 3.1.1")
			}
			e.dst = append(e.dst, byte(rc))
		}
	case Version5:
		e.properties(s.Props, TypeSuback)
		for _, rc := range s.ReasonCodes {
			if !subackReasons.has(rc) {
				e.fail("reason code not allowed on suback")
			}
			e.dst = append(e.dst, byte(rc))
		}
	default:
		e.fail("unsupported protocol version")
	}
	return e.finish(0)
}

func decodeSuback(d *decoder, version byte) (*Suback, error) {
	s := new(Suback)
	var err error
	if s.PacketID, err = d.uint16(); err != nil {
		return nil, err
	}
	if s.PacketID == 0 {
		return nil, protocolErr("suback packet identifier 0")
	}
	allowed := &suback311Codes
	if version == Version5 {
		allowed = &subackReasons
		if s.Props, err = decodeProperties(d, TypeSuback); err != nil {
			return nil, err
		}
	}
	if d.remaining() == 0 {
		return nil, protocolErr("suback without reason codes")
	}
	codes := d.rest()
	s.ReasonCodes = make([]ReasonCode, len(codes))
	for i, c := range codes {
		if !allowed.has(ReasonCode(c)) {
			return nil, malformed("reason code not allowed on suback")
		}
		s.ReasonCodes[i] = ReasonCode(c)
	}
	return s, nil
}

// Unsubscribe is an UNSUBSCRIBE packet (MQTT 5.0 §3.10, 3.1.1 §3.10).
type Unsubscribe struct {
	PacketID uint16
	Props    *Properties // 5.0 only
	Filters  []string
}

// Type returns TypeUnsubscribe.
func (*Unsubscribe) Type() Type { return TypeUnsubscribe }

// Append appends the UNSUBSCRIBE encoded for version to dst; see Packet.
func (u *Unsubscribe) Append(dst []byte, version byte) ([]byte, error) {
	e := newEncoder(dst, TypeUnsubscribe)
	if u.PacketID == 0 {
		e.fail("packet identifier 0")
	}
	if len(u.Filters) == 0 {
		e.fail("no topic filters")
	}
	e.dst = appendUint16(e.dst, u.PacketID)
	if version == Version5 {
		e.properties(u.Props, TypeUnsubscribe)
	} else if version != Version311 {
		e.fail("unsupported protocol version")
	}
	for _, f := range u.Filters {
		e.string(f)
	}
	return e.finish(fixedFlags(TypeUnsubscribe))
}

func decodeUnsubscribe(d *decoder, version byte) (*Unsubscribe, error) {
	u := new(Unsubscribe)
	var err error
	if u.PacketID, err = d.uint16(); err != nil {
		return nil, err
	}
	if u.PacketID == 0 {
		return nil, protocolErr("unsubscribe packet identifier 0")
	}
	if version == Version5 {
		if u.Props, err = decodeProperties(d, TypeUnsubscribe); err != nil {
			return nil, err
		}
	}
	// [MQTT-3.10.3-2] At least one filter.
	if d.remaining() == 0 {
		return nil, protocolErr("unsubscribe without topic filters")
	}
	u.Filters = make([]string, 0, min(d.remaining()/2, 16))
	for d.remaining() > 0 {
		// [MQTT-3.10.3-1] Topic Filters are UTF-8 Encoded Strings.
		f, err := d.string()
		if err != nil {
			return nil, err
		}
		u.Filters = append(u.Filters, f)
	}
	return u, nil
}

// Unsuback is an UNSUBACK packet (MQTT 5.0 §3.11, 3.1.1 §3.11). In 3.1.1 it
// has only the packet identifier; in 5.0 one reason code per filter.
type Unsuback struct {
	PacketID    uint16
	Props       *Properties  // 5.0 only
	ReasonCodes []ReasonCode // 5.0 only
}

// Type returns TypeUnsuback.
func (*Unsuback) Type() Type { return TypeUnsuback }

// Append appends the UNSUBACK encoded for version to dst; see Packet.
func (u *Unsuback) Append(dst []byte, version byte) ([]byte, error) {
	e := newEncoder(dst, TypeUnsuback)
	if u.PacketID == 0 {
		e.fail("packet identifier 0")
	}
	e.dst = appendUint16(e.dst, u.PacketID)
	switch version {
	case Version311:
	case Version5:
		if len(u.ReasonCodes) == 0 {
			e.fail("no reason codes")
		}
		e.properties(u.Props, TypeUnsuback)
		for _, rc := range u.ReasonCodes {
			if !unsubackReasons.has(rc) {
				e.fail("reason code not allowed on unsuback")
			}
			e.dst = append(e.dst, byte(rc))
		}
	default:
		e.fail("unsupported protocol version")
	}
	return e.finish(0)
}

func decodeUnsuback(d *decoder, version byte) (*Unsuback, error) {
	u := new(Unsuback)
	var err error
	if u.PacketID, err = d.uint16(); err != nil {
		return nil, err
	}
	if u.PacketID == 0 {
		return nil, protocolErr("unsuback packet identifier 0")
	}
	if version == Version5 {
		if u.Props, err = decodeProperties(d, TypeUnsuback); err != nil {
			return nil, err
		}
		if d.remaining() == 0 {
			return nil, protocolErr("unsuback without reason codes")
		}
		codes := d.rest()
		u.ReasonCodes = make([]ReasonCode, len(codes))
		for i, c := range codes {
			if !unsubackReasons.has(ReasonCode(c)) {
				return nil, malformed("reason code not allowed on unsuback")
			}
			u.ReasonCodes[i] = ReasonCode(c)
		}
	}
	if d.remaining() != 0 {
		return nil, malformed("bytes after unsuback")
	}
	return u, nil
}
