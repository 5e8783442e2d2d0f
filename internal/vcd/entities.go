package vcd

import (
	"slices"
	"time"
)

// Org is a tenant or the System org. Name is unique (case-insensitively) and immutable.
type Org struct {
	ID          string    `json:"id"` // bare UUID
	Name        string    `json:"name"`
	DisplayName string    `json:"displayName"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	Created     time.Time `json:"created"`
}

// IsSystem reports whether o is the System org.
func (o Org) IsSystem() bool { return o.ID == SystemOrgID }

// User is a local user of one org. Name is unique within its org (case-insensitively).
type User struct {
	ID           string `json:"id"`    // bare UUID
	OrgID        string `json:"orgId"` // bare UUID
	Name         string `json:"name"`
	FullName     string `json:"fullName"`
	Description  string `json:"description"`
	Email        string `json:"email"`
	Role         string `json:"role"` // a built-in role name, e.g. RoleVAppAuthor
	Enabled      bool   `json:"enabled"`
	PasswordHash string `json:"passwordHash"`
	// FailedLogins holds the times of recent failed logins, oldest first, for lockout.
	FailedLogins []time.Time `json:"failedLogins,omitempty"`
	// LockedUntil is when a lockout ends; the zero time means not locked.
	LockedUntil time.Time `json:"lockedUntil,omitzero"`
	Created     time.Time `json:"created"`
}

// Locked reports whether the user is locked out at now.
func (u User) Locked(now time.Time) bool { return now.Before(u.LockedUntil) }

// Session is a login session: one JWT (by its JTI) and optionally one legacy token.
type Session struct {
	ID     string `json:"id"` // bare UUID
	UserID string `json:"userId"`
	OrgID  string `json:"orgId"`
	// OperatingOrgID is the org a sysadmin acts in; empty means OrgID.
	OperatingOrgID string `json:"operatingOrgId,omitempty"`
	JTI            string `json:"jti"`
	// LegacyTokenHash is the SHA-256 (hex) of the x-vcloud-authorization token, if any.
	LegacyTokenHash string `json:"legacyTokenHash,omitempty"`
	// APITokenID is set when the session was opened by exchanging an API token; such
	// sessions may not manage tokens, passwords, users, orgs or service accounts.
	APITokenID string    `json:"apiTokenId,omitempty"`
	ClientIP   string    `json:"clientIp,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`    // the JWT's exp
	LastActive time.Time `json:"lastActive"` // refreshed by activity, at most once a minute
	Revoked    bool      `json:"revoked"`
}

// Token types of /cloudapi/1.0.0/tokens.
const (
	TokenRefresh   = "REFRESH"
	TokenExtension = "EXTENSION"
)

// APIToken is a long-lived secret a user exchanges for a session JWT (VCD-COMPAT §4),
// or an extension token whose holder connects to MQTT as a service account (§6.3).
type APIToken struct {
	ID          string    `json:"id"` // bare UUID; also the OAuth client_id
	Name        string    `json:"name"`
	Type        string    `json:"type"` // TokenRefresh or TokenExtension
	UserID      string    `json:"userId"`
	OrgID       string    `json:"orgId"`
	ExtensionID string    `json:"extensionId,omitempty"`
	SecretHash  string    `json:"secretHash"` // SHA-256 (hex) of the secret; empty while only registered
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires,omitzero"` // zero: no expiry
}

// SigningKey is an RSA key that signs or verifies session JWTs. The newest unexpired key
// signs; every unexpired key verifies.
type SigningKey struct {
	KID           string    `json:"kid"`
	PrivateKeyPEM string    `json:"privateKeyPem"` // PKCS#8 PEM
	Created       time.Time `json:"created"`
	NotAfter      time.Time `json:"notAfter"`
}

// Site describes this herald installation; its ID is generated once and stored.
type Site struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ServiceAccount is an MQTT service account (VCD-COMPAT §6.3): a name and a secret that
// connect to MQTT (form C) or log in for a service JWT, with topic grants. Its id shares
// the urn:vcloud:token namespace; the account of an EXTENSION token has the token's id.
//
// It is a domain type that store, auth and api share; it lives here only because vcd
// was closed for edits when it was added, and belongs in vcd.
type ServiceAccount struct {
	ID       string `json:"id"` // bare UUID
	Name     string `json:"name"`
	Enabled  bool   `json:"enabled"`
	Producer bool   `json:"producer"`
	// Publish and Subscribe are MQTT filters (VCD-COMPAT §7.2, §7.3).
	Publish   []string `json:"publish"`
	Subscribe []string `json:"subscribe"`
	// SecretHash is the SHA-256 (hex) of the secret.
	SecretHash string `json:"secretHash"`
	// Generation counts secret rotations; service JWTs carry it and die with it.
	Generation int `json:"generation"`
	// ExtensionID is the urn:vcloud:extension-api id of an EXTENSION token's account.
	ExtensionID   string    `json:"extensionId,omitempty"`
	Created       time.Time `json:"created"`
	SecretRotated time.Time `json:"secretRotated"`
}

// Clone returns a deep copy of s: the grant slices are not shared.
func (s ServiceAccount) Clone() ServiceAccount {
	s.Publish = slices.Clone(s.Publish)
	s.Subscribe = slices.Clone(s.Subscribe)
	return s
}

// MetricSample is one metric value of a VM; the unit follows from the name
// (VCD-COMPAT §9.2) and is not stored.
type MetricSample struct {
	Name  string
	Value float64
	Time  time.Time
}

// VMSamples is one batch's samples of one VM.
type VMSamples struct {
	VMID    string
	Samples []MetricSample
}
