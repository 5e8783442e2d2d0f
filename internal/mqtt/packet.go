package mqtt

// Protocol levels carried in the CONNECT variable header.
const (
	// Version31 is the protocol level of MQTT 3.1 (protocol name "MQIsdp"). It is
	// recognised only far enough to refuse it: see ErrUnsupportedProtocolVersion.
	Version31 byte = 3
	// Version311 is the protocol level of MQTT 3.1.1.
	Version311 byte = 4
	// Version5 is the protocol level of MQTT 5.0.
	Version5 byte = 5
)

// Limits fixed by both specifications.
const (
	// MaxRemainingLength is the largest value a Remaining Length (or any Variable
	// Byte Integer) can encode in four bytes.
	MaxRemainingLength = 268435455
	// MaxPacketSize is the largest possible packet: a five-byte fixed header plus
	// MaxRemainingLength.
	MaxPacketSize = MaxRemainingLength + 5
	// MaxStringLength is the largest UTF-8 string or binary data field.
	MaxStringLength = 65535
)

// Type is an MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types (MQTT 5.0 §2.1.2, MQTT 3.1.1 §2.2.1).
const (
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
	TypeAuth        Type = 15 // MQTT 5.0 only; reserved in 3.1.1
)

var typeNames = [16]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// String returns the packet type's name as the specifications spell it.
func (t Type) String() string {
	if t < 16 {
		return typeNames[t]
	}
	return "INVALID"
}

// Packet is one decoded MQTT control packet. The concrete types are pointers:
// *Connect, *Connack, *Publish, *Puback, *Pubrec, *Pubrel, *Pubcomp,
// *Subscribe, *Suback, *Unsubscribe, *Unsuback, *Pingreq, *Pingresp,
// *Disconnect and *Auth.
type Packet interface {
	// Type returns the control packet type.
	Type() Type
	// Append appends the packet, encoded for the protocol level version
	// (Version311 or Version5), to dst and returns the extended slice. Fields
	// that have no representation in the chosen version (properties and
	// reason strings in 3.1.1) are left out. It returns an error, and dst
	// unchanged, when the packet cannot be encoded: a field out of range, a
	// string longer than 65535 bytes, a property not allowed on the packet, or
	// a packet longer than MaxPacketSize.
	Append(dst []byte, version byte) ([]byte, error)
}

// Fixed-header flag bits.
const (
	publishRetain = 0x01
	publishQoS    = 0x06
	publishDup    = 0x08
)
