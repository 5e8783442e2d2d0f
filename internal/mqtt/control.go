package mqtt

// Pingreq is a PINGREQ packet (MQTT 5.0 §3.12, 3.1.1 §3.12).
type Pingreq struct{}

// Pingresp is a PINGRESP packet (MQTT 5.0 §3.13, 3.1.1 §3.13).
type Pingresp struct{}

// Type returns TypePingreq.
func (*Pingreq) Type() Type { return TypePingreq }

// Type returns TypePingresp.
func (*Pingresp) Type() Type { return TypePingresp }

// Append appends the two bytes of a PINGREQ to dst; version is not used.
func (*Pingreq) Append(dst []byte, _ byte) ([]byte, error) {
	return append(dst, byte(TypePingreq)<<4, 0), nil
}

// Append appends the two bytes of a PINGRESP to dst; version is not used.
func (*Pingresp) Append(dst []byte, _ byte) ([]byte, error) {
	return append(dst, byte(TypePingresp)<<4, 0), nil
}

// Disconnect is a DISCONNECT packet (MQTT 5.0 §3.14, 3.1.1 §3.14). In 3.1.1
// it has no fields.
type Disconnect struct {
	ReasonCode ReasonCode  // 5.0 only
	Props      *Properties // 5.0 only
}

// Type returns TypeDisconnect.
func (*Disconnect) Type() Type { return TypeDisconnect }

// Append appends the DISCONNECT encoded for version to dst; see Packet. In
// 5.0 it uses the shortest form (§3.14.2.1).
func (p *Disconnect) Append(dst []byte, version byte) ([]byte, error) {
	return appendReasonOnly(dst, version, TypeDisconnect, p.ReasonCode, p.Props, &disconnectReasons)
}

// Auth is an AUTH packet (MQTT 5.0 §3.15), for extended authentication. It
// does not exist in 3.1.1.
type Auth struct {
	ReasonCode ReasonCode // ReasonSuccess, ReasonContinueAuthentication or ReasonReAuthenticate
	Props      *Properties
}

// Type returns TypeAuth.
func (*Auth) Type() Type { return TypeAuth }

// Append appends the AUTH packet to dst; version must be Version5.
func (p *Auth) Append(dst []byte, version byte) ([]byte, error) {
	if version != Version5 {
		return dst, &EncodeError{Type: TypeAuth, Msg: "AUTH exists only in MQTT 5.0"}
	}
	return appendReasonOnly(dst, version, TypeAuth, p.ReasonCode, p.Props, &authReasons)
}

// shortReason appends, in 5.0, the Reason Code rc (one of allowed) and the
// properties in the shortest form: the code left out when it is 0 and there are
// no properties, the Property Length when there are none; in 3.1.1 nothing.
func (e *encoder) shortReason(version byte, t Type, rc ReasonCode, props *Properties, allowed *reasonSet) {
	switch version {
	case Version311:
	case Version5:
		if !allowed.has(rc) {
			e.fail("reason code not allowed")
		}
		hasProps := props != nil && props.mask() != 0
		if rc != 0 || hasProps {
			e.dst = append(e.dst, byte(rc))
		}
		if hasProps {
			e.properties(props, t)
		}
	default:
		e.fail("unsupported protocol version")
	}
}

// appendReasonOnly encodes DISCONNECT and AUTH: in 5.0 a Reason Code and
// properties, both left out when the code is 0 and there are no properties
// (§3.14.2.1, §3.15.2.1); in 3.1.1 nothing.
func appendReasonOnly(dst []byte, version byte, t Type, rc ReasonCode, props *Properties, allowed *reasonSet) ([]byte, error) {
	e := newEncoder(dst, t)
	e.shortReason(version, t, rc, props, allowed)
	return e.finish(0)
}

func decodeReasonOnly(d *decoder, version byte, t Type, allowed *reasonSet) (rc ReasonCode, props *Properties, err error) {
	if version == Version5 && d.remaining() > 0 {
		// §3.14.2.1: a Remaining Length of 0 means reason 0x00 and no
		// properties; of 1, no Property Length.
		c, _ := d.byte()
		rc = ReasonCode(c)
		if !allowed.has(rc) {
			return 0, nil, malformed("reason code " + rc.String() + " not allowed on " + t.String())
		}
		if d.remaining() > 0 {
			if props, err = decodeProperties(d, t); err != nil {
				return 0, nil, err
			}
		}
	}
	if d.remaining() != 0 {
		// 3.1.1 DISCONNECT, PINGREQ and PINGRESP have a Remaining Length of 0.
		return 0, nil, malformed("bytes after " + t.String())
	}
	return rc, props, nil
}
