package mqtt

// ReasonCode is an MQTT 5.0 reason code (§2.4) or, in 3.1.1, a CONNACK return
// code or SUBACK return code. Values below 0x80 report success; 0x80 and above
// report failure.
type ReasonCode byte

// MQTT 5.0 reason codes (§2.4, Table 2-6). Several codes share a value; the
// name used depends on the packet that carries it.
const (
	ReasonSuccess                             ReasonCode = 0x00 // CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH
	ReasonNormalDisconnection                 ReasonCode = 0x00 // DISCONNECT
	ReasonGrantedQoS0                         ReasonCode = 0x00 // SUBACK
	ReasonGrantedQoS1                         ReasonCode = 0x01 // SUBACK
	ReasonGrantedQoS2                         ReasonCode = 0x02 // SUBACK
	ReasonDisconnectWithWillMessage           ReasonCode = 0x04 // DISCONNECT
	ReasonNoMatchingSubscribers               ReasonCode = 0x10 // PUBACK, PUBREC
	ReasonNoSubscriptionExisted               ReasonCode = 0x11 // UNSUBACK
	ReasonContinueAuthentication              ReasonCode = 0x18 // AUTH
	ReasonReAuthenticate                      ReasonCode = 0x19 // AUTH
	ReasonUnspecifiedError                    ReasonCode = 0x80
	ReasonMalformedPacket                     ReasonCode = 0x81
	ReasonProtocolError                       ReasonCode = 0x82
	ReasonImplementationSpecificError         ReasonCode = 0x83
	ReasonUnsupportedProtocolVersion          ReasonCode = 0x84
	ReasonClientIdentifierNotValid            ReasonCode = 0x85
	ReasonBadUserNameOrPassword               ReasonCode = 0x86
	ReasonNotAuthorized                       ReasonCode = 0x87
	ReasonServerUnavailable                   ReasonCode = 0x88
	ReasonServerBusy                          ReasonCode = 0x89
	ReasonBanned                              ReasonCode = 0x8A
	ReasonServerShuttingDown                  ReasonCode = 0x8B
	ReasonBadAuthenticationMethod             ReasonCode = 0x8C
	ReasonKeepAliveTimeout                    ReasonCode = 0x8D
	ReasonSessionTakenOver                    ReasonCode = 0x8E
	ReasonTopicFilterInvalid                  ReasonCode = 0x8F
	ReasonTopicNameInvalid                    ReasonCode = 0x90
	ReasonPacketIdentifierInUse               ReasonCode = 0x91
	ReasonPacketIdentifierNotFound            ReasonCode = 0x92
	ReasonReceiveMaximumExceeded              ReasonCode = 0x93
	ReasonTopicAliasInvalid                   ReasonCode = 0x94
	ReasonPacketTooLarge                      ReasonCode = 0x95
	ReasonMessageRateTooHigh                  ReasonCode = 0x96
	ReasonQuotaExceeded                       ReasonCode = 0x97
	ReasonAdministrativeAction                ReasonCode = 0x98
	ReasonPayloadFormatInvalid                ReasonCode = 0x99
	ReasonRetainNotSupported                  ReasonCode = 0x9A
	ReasonQoSNotSupported                     ReasonCode = 0x9B
	ReasonUseAnotherServer                    ReasonCode = 0x9C
	ReasonServerMoved                         ReasonCode = 0x9D
	ReasonSharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ReasonConnectionRateExceeded              ReasonCode = 0x9F
	ReasonMaximumConnectTime                  ReasonCode = 0xA0
	ReasonSubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	ReasonWildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// MQTT 3.1.1 CONNACK return codes (§3.2.2.3) and the SUBACK failure code
// (§3.9.3). A 3.1.1 CONNACK carries one of these in Connack.ReasonCode.
const (
	ConnAccepted                     ReasonCode = 0x00
	ConnRefusedProtocolVersion       ReasonCode = 0x01
	ConnRefusedIdentifierRejected    ReasonCode = 0x02
	ConnRefusedServerUnavailable     ReasonCode = 0x03
	ConnRefusedBadUserNameOrPassword ReasonCode = 0x04
	ConnRefusedNotAuthorized         ReasonCode = 0x05
	SubackFailure                    ReasonCode = 0x80
)

var reasonNames = map[ReasonCode]string{
	0x00: "success", 0x01: "granted QoS 1", 0x02: "granted QoS 2", 0x04: "disconnect with will message",
	0x10: "no matching subscribers", 0x11: "no subscription existed", 0x18: "continue authentication",
	0x19: "re-authenticate", 0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
	0x83: "implementation specific error", 0x84: "unsupported protocol version",
	0x85: "client identifier not valid", 0x86: "bad user name or password", 0x87: "not authorized",
	0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned", 0x8B: "server shutting down",
	0x8C: "bad authentication method", 0x8D: "keep alive timeout", 0x8E: "session taken over",
	0x8F: "topic filter invalid", 0x90: "topic name invalid", 0x91: "packet identifier in use",
	0x92: "packet identifier not found", 0x93: "receive maximum exceeded", 0x94: "topic alias invalid",
	0x95: "packet too large", 0x96: "message rate too high", 0x97: "quota exceeded",
	0x98: "administrative action", 0x99: "payload format invalid", 0x9A: "retain not supported",
	0x9B: "QoS not supported", 0x9C: "use another server", 0x9D: "server moved",
	0x9E: "shared subscriptions not supported", 0x9F: "connection rate exceeded",
	0xA0: "maximum connect time", 0xA1: "subscription identifiers not supported",
	0xA2: "wildcard subscriptions not supported",
}

// String returns the MQTT 5.0 name of the reason code in lower case, or its
// hexadecimal value if it has none.
func (c ReasonCode) String() string {
	if s, ok := reasonNames[c]; ok {
		return s
	}
	const hex = "0123456789abcdef"
	return "reason 0x" + string([]byte{hex[c>>4], hex[c&0xf]})
}

// IsError reports whether c reports a failure (0x80 or above).
func (c ReasonCode) IsError() bool { return c >= 0x80 }

// reasonSet is a set of reason codes, one bit per value.
type reasonSet [4]uint64

func (s *reasonSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func newReasonSet(codes ...ReasonCode) reasonSet {
	var s reasonSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

// The reason codes each MQTT 5.0 packet may carry (§3.x.2.1 of each packet).
var (
	connackReasons = newReasonSet(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
		0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F)
	pubackReasons     = newReasonSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99) // PUBACK and PUBREC
	pubrelReasons     = newReasonSet(0x00, 0x92)                                           // PUBREL and PUBCOMP
	subackReasons     = newReasonSet(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)
	unsubackReasons   = newReasonSet(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
	disconnectReasons = newReasonSet(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
		0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
		0xA0, 0xA1, 0xA2)
	authReasons     = newReasonSet(0x00, 0x18, 0x19)
	connack311Codes = newReasonSet(0x00, 0x01, 0x02, 0x03, 0x04, 0x05)
	suback311Codes  = newReasonSet(0x00, 0x01, 0x02, 0x80)
)
