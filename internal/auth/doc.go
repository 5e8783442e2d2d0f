// Package auth checks who a request or connection acts for: it hashes and checks
// passwords, opens sessions at login, issues and verifies session JWTs and legacy
// tokens, manages API tokens, and resolves a verified token to a vcd.Principal. It is
// the one herald package that imports a JWT library.
//
// # Tokens and principals
//
// A session JWT (docs/VCD-COMPAT.md §2.5) is RS256 with a kid header and the claims
// sub (user name), iss (<orgUUID>@<siteUUID>), exp, iat, version ("vcloud_1.0"), jti
// (32 lowercase hex characters) and userId, orgId, sessionId as urn:vcloud URNs. It
// carries no roles. Authenticate accepts alg RS256 only (never none or an HMAC, which
// defeats algorithm confusion), requires exp, and then reads the session the token
// names: the session must exist, match the token's jti, user, org and issuer, not be
// revoked, be before its Expires, and have seen activity within IdleTimeout. The user
// and its org are then read from the Directory and must exist and be enabled. The
// principal's role and level (vcd.LevelOf) come from the directory at that moment, so a
// role change or a disabled user takes effect at the next check. Principal.ExpiresAt is
// the earlier of the token's exp and the idle limit.
//
// A legacy token (x-vcloud-authorization, from LegacyLogin) is 32 random hex
// characters bound to a session; AuthenticateLegacy finds the session by the token's
// SHA-256 and applies the same session, user and org checks.
//
// Activity is recorded by Touch, which the api calls per authenticated request and the
// broker while a connection is open; Authenticate itself never writes. Touch writes a
// session's LastActive at most once a minute (a bounded per-node map remembers the last
// write). Logout marks the session revoked, which ends its JWT and legacy token alike.
//
// # Failures
//
// Every client-caused failure is a *vcd.Error with vcd.CodeUnauthorized (or
// vcd.CodeForbidden or vcd.CodeInvalid when managing tokens) whose message tells
// nothing; its cause, for logs and events, matches a sentinel with errors.Is
// (ErrTokenExpired, ErrBadSignature, ErrRevoked, ErrIdle, ...). A failed login carries
// a *LoginError naming the user and org involved. Failures of the Directory keep their
// own code (for example vcd.CodeUnavailable): they are not the client's fault.
//
// # Login and lockout
//
// Names are "user@org", split at the last '@'; orgs and users are matched in any case.
// The tenant endpoint admits tenant users only, the provider endpoint System users
// only, the legacy endpoint both. An unknown user or org, a wrong password, a disabled
// user or org, a locked user and the wrong endpoint all give the same error, and the
// password is hashed in every case (against a dummy hash for unknown users) so that the
// time taken tells nothing either.
//
// A wrong password for an existing user appends the time to User.FailedLogins, keeping
// only those within LockoutWindow. When they reach LockoutThreshold the user is locked
// until now+LockoutDuration and the list is cleared (the failure matches ErrLockedNow).
// While locked even the right password fails (ErrLocked) and failures are not counted.
// A successful login clears the list. All writes are compare-and-set updates, so
// concurrent failures on several nodes all count.
//
// # Signing keys
//
// Keys are RSA 2048-bit, stored in the Directory as PKCS#8 PEM with a kid, a creation
// time and a NotAfter of creation+KeyLifetime+TokenLifetime. The newest unexpired key
// signs; every unexpired key verifies, so a token never outlives its key. Open (and
// RotateKeys, and a login that finds its signing key too old) adds a new key when none
// is valid or the newest is older than KeyLifetime. Parsed keys are cached; a token
// naming an unknown kid reloads the keys from the Directory, at most once a second, so
// a key another node created verifies here too.
//
// # API tokens
//
// An API token's secret is 32 random alphanumeric characters, shown once; only its
// SHA-256 (hex) is stored in APIToken.SecretHash, as a high-entropy secret needs no
// slow hash. ExchangeAPIToken turns a REFRESH token's secret into a session whose
// APITokenID is set; such sessions may not create tokens or register clients.
// RegisterClient and ExchangeJWTBearer implement VCD's two-step flow: a registration is
// an APIToken without a secret, and the first jwt-bearer exchange by the same user sets
// it (compare-and-set, so exactly once). Exchange failures match ErrInvalidGrant.
//
// # Service accounts
//
// An MQTT service account (vcd.ServiceAccount, VCD-COMPAT §6.3) has a unique name (any
// case), topic grants and a secret of 32 random alphanumerics stored as its SHA-256.
// AuthenticateService checks name and secret (CONNECT form C) in constant time; an
// unknown name, a wrong secret and a disabled account give one error. ServiceLogin issues
// a service JWT: sub is the name, iss <System org UUID>@<site>, and instead of userId and
// sessionId it carries serviceAccountId (urn:vcloud:token:<id>) and secretGeneration.
// It keeps no session: Authenticate resolves it against the account's current record,
// so its grants are the current ones, and it dies at exp, when the generation moves on
// (RotateServiceSecret), or when the account is disabled or deleted. The principal is
// vcd.PrincipalService in the System org with the account id as UserID; vcd.Can gives
// it no REST rights of a user.
//
// # What is stored where
//
// Everything durable is in the Directory: users' password hashes, failed logins and
// lock state (vcd.User), sessions with their jti, legacy-token hash, last activity and
// revocation (vcd.Session), API tokens with their secret hash (vcd.APIToken), and the
// signing keys (vcd.SigningKey). The Authenticator keeps only caches: parsed keys and
// the time of its last LastActive write per session. Logs name jti, session, user and
// token ids, never passwords, hashes, JWTs or secrets.
package auth
