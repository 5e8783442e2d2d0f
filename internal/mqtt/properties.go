package mqtt

// PropertyID is an MQTT 5.0 property identifier (§2.2.2.2, Table 2-4).
type PropertyID byte

// Property identifiers of MQTT 5.0.
const (
	PropPayloadFormatIndicator          PropertyID = 0x01
	PropMessageExpiryInterval           PropertyID = 0x02
	PropContentType                     PropertyID = 0x03
	PropResponseTopic                   PropertyID = 0x08
	PropCorrelationData                 PropertyID = 0x09
	PropSubscriptionIdentifier          PropertyID = 0x0B
	PropSessionExpiryInterval           PropertyID = 0x11
	PropAssignedClientIdentifier        PropertyID = 0x12
	PropServerKeepAlive                 PropertyID = 0x13
	PropAuthenticationMethod            PropertyID = 0x15
	PropAuthenticationData              PropertyID = 0x16
	PropRequestProblemInformation       PropertyID = 0x17
	PropWillDelayInterval               PropertyID = 0x18
	PropRequestResponseInformation      PropertyID = 0x19
	PropResponseInformation             PropertyID = 0x1A
	PropServerReference                 PropertyID = 0x1C
	PropReasonString                    PropertyID = 0x1F
	PropReceiveMaximum                  PropertyID = 0x21
	PropTopicAliasMaximum               PropertyID = 0x22
	PropTopicAlias                      PropertyID = 0x23
	PropMaximumQoS                      PropertyID = 0x24
	PropRetainAvailable                 PropertyID = 0x25
	PropUserProperty                    PropertyID = 0x26
	PropMaximumPacketSize               PropertyID = 0x27
	PropWildcardSubscriptionAvailable   PropertyID = 0x28
	PropSubscriptionIdentifierAvailable PropertyID = 0x29
	PropSharedSubscriptionAvailable     PropertyID = 0x2A
)

// UserProperty is one MQTT 5.0 User Property, a UTF-8 string pair. The same
// key may appear more than once; order is preserved.
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5.0 properties of a packet or of a will message.
// A nil pointer field, an empty string and an empty slice mean "absent";
// because of that a property sent with an empty string or empty binary value
// decodes as absent. Which properties a packet may carry is fixed by the
// specification (§2.2.2.2); Decode rejects others and Append refuses to
// encode them. In 3.1.1 properties do not exist and are ignored by Append.
type Properties struct {
	PayloadFormatIndicator          *byte          // 0x01 PUBLISH, will: 0 bytes, 1 UTF-8
	MessageExpiryInterval           *uint32        // 0x02 PUBLISH, will: seconds
	ContentType                     string         // 0x03 PUBLISH, will
	ResponseTopic                   string         // 0x08 PUBLISH, will
	CorrelationData                 []byte         // 0x09 PUBLISH, will
	SubscriptionIdentifiers         []uint32       // 0x0B PUBLISH (any number), SUBSCRIBE (at most one): 1 to 268435455
	SessionExpiryInterval           *uint32        // 0x11 CONNECT, CONNACK, DISCONNECT: seconds
	AssignedClientIdentifier        string         // 0x12 CONNACK
	ServerKeepAlive                 *uint16        // 0x13 CONNACK: seconds
	AuthenticationMethod            string         // 0x15 CONNECT, CONNACK, AUTH
	AuthenticationData              []byte         // 0x16 CONNECT, CONNACK, AUTH
	RequestProblemInformation       *bool          // 0x17 CONNECT
	WillDelayInterval               *uint32        // 0x18 will: seconds
	RequestResponseInformation      *bool          // 0x19 CONNECT
	ResponseInformation             string         // 0x1A CONNACK
	ServerReference                 string         // 0x1C CONNACK, DISCONNECT
	ReasonString                    string         // 0x1F every acknowledgement, DISCONNECT, AUTH
	ReceiveMaximum                  *uint16        // 0x21 CONNECT, CONNACK: not 0
	TopicAliasMaximum               *uint16        // 0x22 CONNECT, CONNACK
	TopicAlias                      *uint16        // 0x23 PUBLISH: not 0
	MaximumQoS                      *byte          // 0x24 CONNACK: 0 or 1
	RetainAvailable                 *bool          // 0x25 CONNACK
	UserProperties                  []UserProperty // 0x26 all but PINGREQ, PINGRESP
	MaximumPacketSize               *uint32        // 0x27 CONNECT, CONNACK: not 0
	WildcardSubscriptionAvailable   *bool          // 0x28 CONNACK
	SubscriptionIdentifierAvailable *bool          // 0x29 CONNACK
	SharedSubscriptionAvailable     *bool          // 0x2A CONNACK
}

// propMask is a set of property identifiers, one bit per identifier (all are
// below 64).
type propMask uint64

func maskOf(ids ...PropertyID) propMask {
	var m propMask
	for _, id := range ids {
		m |= 1 << id
	}
	return m
}

// propWill selects the will properties of CONNECT in allowedProps.
const propWill Type = 0

// allowedProps lists the properties each packet may carry (MQTT 5.0 §2.2.2.2,
// Table 2-4); index propWill is the CONNECT payload's will properties.
var allowedProps = [16]propMask{
	propWill: maskOf(PropPayloadFormatIndicator, PropMessageExpiryInterval, PropContentType,
		PropResponseTopic, PropCorrelationData, PropWillDelayInterval, PropUserProperty),
	TypeConnect: maskOf(PropSessionExpiryInterval, PropAuthenticationMethod, PropAuthenticationData,
		PropRequestProblemInformation, PropRequestResponseInformation, PropReceiveMaximum,
		PropTopicAliasMaximum, PropUserProperty, PropMaximumPacketSize),
	TypeConnack: maskOf(PropSessionExpiryInterval, PropAssignedClientIdentifier, PropServerKeepAlive,
		PropAuthenticationMethod, PropAuthenticationData, PropResponseInformation, PropServerReference,
		PropReasonString, PropReceiveMaximum, PropTopicAliasMaximum, PropMaximumQoS, PropRetainAvailable,
		PropUserProperty, PropMaximumPacketSize, PropWildcardSubscriptionAvailable,
		PropSubscriptionIdentifierAvailable, PropSharedSubscriptionAvailable),
	TypePublish: maskOf(PropPayloadFormatIndicator, PropMessageExpiryInterval, PropContentType,
		PropResponseTopic, PropCorrelationData, PropSubscriptionIdentifier, PropTopicAlias, PropUserProperty),
	TypePuback:      maskOf(PropReasonString, PropUserProperty),
	TypePubrec:      maskOf(PropReasonString, PropUserProperty),
	TypePubrel:      maskOf(PropReasonString, PropUserProperty),
	TypePubcomp:     maskOf(PropReasonString, PropUserProperty),
	TypeSubscribe:   maskOf(PropSubscriptionIdentifier, PropUserProperty),
	TypeSuback:      maskOf(PropReasonString, PropUserProperty),
	TypeUnsubscribe: maskOf(PropUserProperty),
	TypeUnsuback:    maskOf(PropReasonString, PropUserProperty),
	TypeDisconnect: maskOf(PropSessionExpiryInterval, PropServerReference, PropReasonString,
		PropUserProperty),
	TypeAuth: maskOf(PropAuthenticationMethod, PropAuthenticationData, PropReasonString, PropUserProperty),
}

// mask returns the set of properties present in p.
func (p *Properties) mask() propMask {
	var m propMask
	set := func(ok bool, id PropertyID) {
		if ok {
			m |= 1 << id
		}
	}
	set(p.PayloadFormatIndicator != nil, PropPayloadFormatIndicator)
	set(p.MessageExpiryInterval != nil, PropMessageExpiryInterval)
	set(p.ContentType != "", PropContentType)
	set(p.ResponseTopic != "", PropResponseTopic)
	set(len(p.CorrelationData) > 0, PropCorrelationData)
	set(len(p.SubscriptionIdentifiers) > 0, PropSubscriptionIdentifier)
	set(p.SessionExpiryInterval != nil, PropSessionExpiryInterval)
	set(p.AssignedClientIdentifier != "", PropAssignedClientIdentifier)
	set(p.ServerKeepAlive != nil, PropServerKeepAlive)
	set(p.AuthenticationMethod != "", PropAuthenticationMethod)
	set(len(p.AuthenticationData) > 0, PropAuthenticationData)
	set(p.RequestProblemInformation != nil, PropRequestProblemInformation)
	set(p.WillDelayInterval != nil, PropWillDelayInterval)
	set(p.RequestResponseInformation != nil, PropRequestResponseInformation)
	set(p.ResponseInformation != "", PropResponseInformation)
	set(p.ServerReference != "", PropServerReference)
	set(p.ReasonString != "", PropReasonString)
	set(p.ReceiveMaximum != nil, PropReceiveMaximum)
	set(p.TopicAliasMaximum != nil, PropTopicAliasMaximum)
	set(p.TopicAlias != nil, PropTopicAlias)
	set(p.MaximumQoS != nil, PropMaximumQoS)
	set(p.RetainAvailable != nil, PropRetainAvailable)
	set(len(p.UserProperties) > 0, PropUserProperty)
	set(p.MaximumPacketSize != nil, PropMaximumPacketSize)
	set(p.WildcardSubscriptionAvailable != nil, PropWildcardSubscriptionAvailable)
	set(p.SubscriptionIdentifierAvailable != nil, PropSubscriptionIdentifierAvailable)
	set(p.SharedSubscriptionAvailable != nil, PropSharedSubscriptionAvailable)
	return m
}

// Clone returns a deep copy of p, or nil if p is nil.
func (p *Properties) Clone() *Properties {
	if p == nil {
		return nil
	}
	c := *p
	clonePtr(&c.PayloadFormatIndicator)
	clonePtr(&c.MessageExpiryInterval)
	clonePtr(&c.SessionExpiryInterval)
	clonePtr(&c.ServerKeepAlive)
	clonePtr(&c.RequestProblemInformation)
	clonePtr(&c.WillDelayInterval)
	clonePtr(&c.RequestResponseInformation)
	clonePtr(&c.ReceiveMaximum)
	clonePtr(&c.TopicAliasMaximum)
	clonePtr(&c.TopicAlias)
	clonePtr(&c.MaximumQoS)
	clonePtr(&c.RetainAvailable)
	clonePtr(&c.MaximumPacketSize)
	clonePtr(&c.WildcardSubscriptionAvailable)
	clonePtr(&c.SubscriptionIdentifierAvailable)
	clonePtr(&c.SharedSubscriptionAvailable)
	c.CorrelationData = cloneBytes(c.CorrelationData)
	c.AuthenticationData = cloneBytes(c.AuthenticationData)
	if c.SubscriptionIdentifiers != nil {
		c.SubscriptionIdentifiers = append([]uint32(nil), c.SubscriptionIdentifiers...)
	}
	if c.UserProperties != nil {
		c.UserProperties = append([]UserProperty(nil), c.UserProperties...)
	}
	return &c
}

func clonePtr[T any](p **T) {
	if *p != nil {
		v := **p
		*p = &v
	}
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Encode appends the properties of p to dst in identifier order, without the
// Property Length that precedes them in a packet, and returns the extended
// slice. A nil p appends nothing. It does not check which packet the
// properties are for; use it to pre-encode the shared properties given to
// AppendPublish. It returns an error, and dst unchanged, if a string or
// binary value is longer than 65535 bytes or a subscription identifier is out
// of range.
func (p *Properties) Encode(dst []byte) ([]byte, error) {
	e := encoder{t: TypePublish, dst: dst, start: len(dst)}
	p.encode(&e)
	if e.err != nil {
		return dst, e.err
	}
	return e.dst, nil
}

// encode appends the properties in identifier order. Empty strings, empty
// binary values and empty lists are left out (they mean "absent").
func (p *Properties) encode(e *encoder) {
	if p == nil {
		return
	}
	b8 := func(id PropertyID, v *byte) {
		if v != nil {
			e.dst = append(e.dst, byte(id), *v)
		}
	}
	bool8 := func(id PropertyID, v *bool) {
		if v != nil {
			c := byte(0)
			if *v {
				c = 1
			}
			e.dst = append(e.dst, byte(id), c)
		}
	}
	u16 := func(id PropertyID, v *uint16) {
		if v != nil {
			e.dst = appendUint16(append(e.dst, byte(id)), *v)
		}
	}
	u32 := func(id PropertyID, v *uint32) {
		if v != nil {
			e.dst = appendUint32(append(e.dst, byte(id)), *v)
		}
	}
	str := func(id PropertyID, s string) {
		if s != "" {
			e.dst = append(e.dst, byte(id))
			e.string(s)
		}
	}
	bin := func(id PropertyID, b []byte) {
		if len(b) > 0 {
			e.dst = append(e.dst, byte(id))
			e.binary(b)
		}
	}
	b8(PropPayloadFormatIndicator, p.PayloadFormatIndicator)
	u32(PropMessageExpiryInterval, p.MessageExpiryInterval)
	str(PropContentType, p.ContentType)
	str(PropResponseTopic, p.ResponseTopic)
	bin(PropCorrelationData, p.CorrelationData)
	for _, id := range p.SubscriptionIdentifiers {
		if id == 0 || id > MaxRemainingLength {
			e.fail("subscription identifier out of range")
			continue
		}
		e.dst = appendVarint(append(e.dst, byte(PropSubscriptionIdentifier)), int(id))
	}
	u32(PropSessionExpiryInterval, p.SessionExpiryInterval)
	str(PropAssignedClientIdentifier, p.AssignedClientIdentifier)
	u16(PropServerKeepAlive, p.ServerKeepAlive)
	str(PropAuthenticationMethod, p.AuthenticationMethod)
	bin(PropAuthenticationData, p.AuthenticationData)
	bool8(PropRequestProblemInformation, p.RequestProblemInformation)
	u32(PropWillDelayInterval, p.WillDelayInterval)
	bool8(PropRequestResponseInformation, p.RequestResponseInformation)
	str(PropResponseInformation, p.ResponseInformation)
	str(PropServerReference, p.ServerReference)
	str(PropReasonString, p.ReasonString)
	u16(PropReceiveMaximum, p.ReceiveMaximum)
	u16(PropTopicAliasMaximum, p.TopicAliasMaximum)
	u16(PropTopicAlias, p.TopicAlias)
	b8(PropMaximumQoS, p.MaximumQoS)
	bool8(PropRetainAvailable, p.RetainAvailable)
	for _, up := range p.UserProperties {
		e.dst = append(e.dst, byte(PropUserProperty))
		e.string(up.Key)
		e.string(up.Value)
	}
	u32(PropMaximumPacketSize, p.MaximumPacketSize)
	bool8(PropWildcardSubscriptionAvailable, p.WildcardSubscriptionAvailable)
	bool8(PropSubscriptionIdentifierAvailable, p.SubscriptionIdentifierAvailable)
	bool8(PropSharedSubscriptionAvailable, p.SharedSubscriptionAvailable)
}

// properties appends the Property Length and the properties of p, after
// checking that each is allowed on packet type t (propWill for the will
// properties) and that the values are in range.
func (e *encoder) properties(p *Properties, t Type) {
	if p != nil {
		if p.mask()&^allowedProps[t] != 0 {
			e.fail("property not allowed on this packet")
			return
		}
		if t == TypeSubscribe && len(p.SubscriptionIdentifiers) > 1 {
			e.fail("more than one subscription identifier")
			return
		}
	}
	// Reserve the longest Property Length, append the properties, then write
	// the length in front of them and close the gap.
	at := len(e.dst)
	e.dst = append(e.dst, 0, 0, 0, 0)
	p.encode(e)
	n := len(e.dst) - at - 4
	var buf [4]byte
	l := appendVarint(buf[:0], n)
	copy(e.dst[at:], l)
	if gap := 4 - len(l); gap > 0 {
		copy(e.dst[at+len(l):], e.dst[at+4:])
		e.dst = e.dst[:len(e.dst)-gap]
	}
}

// decodeProperties reads a Property Length and the properties that follow,
// allowing only those permitted on packet type t (propWill for will
// properties). It returns nil when the Property Length is 0.
func decodeProperties(d *decoder, t Type) (*Properties, error) {
	n, err := d.varint()
	if err != nil {
		return nil, err
	}
	if n > d.remaining() {
		return nil, malformed("property length exceeds packet")
	}
	if n == 0 {
		return nil, nil
	}
	pd := decoder{b: d.b[:d.off+n], off: d.off}
	d.off += n
	p := new(Properties)
	var seen propMask
	for pd.remaining() > 0 {
		// The identifier is a Variable Byte Integer, but every defined
		// identifier fits in one byte; a longer one is unknown anyway.
		c, _ := pd.byte()
		id := PropertyID(c)
		if id >= 64 || allowedProps[t]&(1<<id) == 0 {
			// §2.2.2.2: an identifier not valid for the packet type makes it
			// a Malformed Packet.
			return nil, malformed("property 0x" + hexByte(c) + " not allowed on " + propOwner(t))
		}
		if seen&(1<<id) != 0 && id != PropUserProperty && !(id == PropSubscriptionIdentifier && t == TypePublish) {
			// Each property's description in §3 makes including it more than
			// once a Protocol Error; only User Property, and Subscription
			// Identifier on PUBLISH (§3.3.2.3.8), may repeat.
			return nil, protocolErr("property 0x" + hexByte(c) + " included more than once")
		}
		seen |= 1 << id
		if err := p.decodeOne(&pd, id); err != nil {
			return nil, err
		}
	}
	// §3.1.2.11.10: Authentication Data without an Authentication Method is a
	// Protocol Error.
	if seen&(1<<PropAuthenticationData) != 0 && seen&(1<<PropAuthenticationMethod) == 0 {
		return nil, protocolErr("authentication data without authentication method")
	}
	if p.mask() == 0 {
		// Only empty strings or binary values: the same as no properties.
		return nil, nil
	}
	return p, nil
}

func (p *Properties) decodeOne(d *decoder, id PropertyID) error {
	var err error
	switch id {
	case PropPayloadFormatIndicator, PropMaximumQoS:
		var v byte
		if v, err = d.byte(); err == nil && v > 1 {
			// §3.3.2.3.2 and §3.2.2.3.4: only 0 and 1 are defined.
			return protocolErr("property 0x" + hexByte(byte(id)) + " must be 0 or 1")
		}
		if id == PropPayloadFormatIndicator {
			p.PayloadFormatIndicator = &v
		} else {
			p.MaximumQoS = &v
		}
	case PropRequestProblemInformation, PropRequestResponseInformation, PropRetainAvailable,
		PropWildcardSubscriptionAvailable, PropSubscriptionIdentifierAvailable, PropSharedSubscriptionAvailable:
		var c byte
		if c, err = d.byte(); err == nil && c > 1 {
			// Each of these is a Protocol Error with a value other than 0 or 1.
			return protocolErr("property 0x" + hexByte(byte(id)) + " must be 0 or 1")
		}
		v := c == 1
		switch id {
		case PropRequestProblemInformation:
			p.RequestProblemInformation = &v
		case PropRequestResponseInformation:
			p.RequestResponseInformation = &v
		case PropRetainAvailable:
			p.RetainAvailable = &v
		case PropWildcardSubscriptionAvailable:
			p.WildcardSubscriptionAvailable = &v
		case PropSubscriptionIdentifierAvailable:
			p.SubscriptionIdentifierAvailable = &v
		default:
			p.SharedSubscriptionAvailable = &v
		}
	case PropMessageExpiryInterval, PropSessionExpiryInterval, PropWillDelayInterval, PropMaximumPacketSize:
		var v uint32
		v, err = d.uint32()
		switch id {
		case PropMessageExpiryInterval:
			p.MessageExpiryInterval = &v
		case PropSessionExpiryInterval:
			p.SessionExpiryInterval = &v
		case PropWillDelayInterval:
			p.WillDelayInterval = &v
		default:
			// §3.1.2.11.4: a Maximum Packet Size of 0 is a Protocol Error.
			if err == nil && v == 0 {
				return protocolErr("maximum packet size 0")
			}
			p.MaximumPacketSize = &v
		}
	case PropServerKeepAlive, PropReceiveMaximum, PropTopicAliasMaximum, PropTopicAlias:
		var v uint16
		v, err = d.uint16()
		switch id {
		case PropServerKeepAlive:
			p.ServerKeepAlive = &v
		case PropReceiveMaximum:
			// §3.1.2.11.3, §3.2.2.3.3: a Receive Maximum of 0 is a Protocol Error.
			if err == nil && v == 0 {
				return protocolErr("receive maximum 0")
			}
			p.ReceiveMaximum = &v
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum = &v
		default:
			// [MQTT-3.3.2-8] A Topic Alias of 0 is not permitted.
			if err == nil && v == 0 {
				return protocolErr("topic alias 0")
			}
			p.TopicAlias = &v
		}
	case PropSubscriptionIdentifier:
		var v int
		if v, err = d.varint(); err == nil && v == 0 {
			// §3.3.2.3.8, §3.8.2.1.2: a Subscription Identifier of 0 is a
			// Protocol Error.
			return protocolErr("subscription identifier 0")
		}
		if err == nil {
			p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers, uint32(v))
		}
	case PropCorrelationData, PropAuthenticationData:
		var v []byte
		v, err = d.binaryCopy()
		if id == PropCorrelationData {
			p.CorrelationData = v
		} else {
			p.AuthenticationData = v
		}
	case PropUserProperty:
		var up UserProperty
		if up.Key, err = d.string(); err == nil {
			up.Value, err = d.string()
		}
		p.UserProperties = append(p.UserProperties, up)
	default: // the remaining identifiers are all UTF-8 strings
		var s string
		s, err = d.string()
		switch id {
		case PropContentType:
			p.ContentType = s
		case PropResponseTopic:
			p.ResponseTopic = s
		case PropAssignedClientIdentifier:
			p.AssignedClientIdentifier = s
		case PropAuthenticationMethod:
			p.AuthenticationMethod = s
		case PropResponseInformation:
			p.ResponseInformation = s
		case PropServerReference:
			p.ServerReference = s
		case PropReasonString:
			p.ReasonString = s
		}
	}
	return err
}

func hexByte(c byte) string {
	const hex = "0123456789abcdef"
	return string([]byte{hex[c>>4], hex[c&0xf]})
}

func propOwner(t Type) string {
	if t == propWill {
		return "will"
	}
	return t.String()
}
