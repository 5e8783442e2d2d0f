package auth

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// Config holds the authentication policy. config.Default() supplies the defaults
// noted on each field; New applies the same defaults to zero fields.
type Config struct {
	TokenLifetime    time.Duration // JWT lifetime; default 24h
	IdleTimeout      time.Duration // session idle limit; default 30m
	LockoutThreshold int           // failed logins within LockoutWindow that lock a user; default 5
	LockoutWindow    time.Duration // default 10m
	LockoutDuration  time.Duration // default 10m
	KeyLifetime      time.Duration // signing-key rotation period; default 90 days
	// APITokenLifetime bounds API tokens; zero means they do not expire.
	APITokenLifetime time.Duration
	// PasswordCost is the bcrypt cost of new password hashes (4 to 31); default
	// DefaultPasswordCost. Tests lower it to 4.
	PasswordCost int
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.TokenLifetime, 24*time.Hour)
	def(&c.IdleTimeout, 30*time.Minute)
	def(&c.LockoutWindow, 10*time.Minute)
	def(&c.LockoutDuration, 10*time.Minute)
	def(&c.KeyLifetime, 90*24*time.Hour)
	if c.LockoutThreshold <= 0 {
		c.LockoutThreshold = 5
	}
	if c.PasswordCost == 0 {
		c.PasswordCost = DefaultPasswordCost
	}
	if c.APITokenLifetime < 0 {
		c.APITokenLifetime = 0
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// LoginResult is the outcome of a successful login or token exchange.
type LoginResult struct {
	Session     vcd.Session
	Principal   vcd.Principal
	JWT         string
	LegacyToken string // set by LegacyLogin only
}

// Authenticator verifies credentials, issues and verifies session JWTs, and resolves
// principals against the current directory. It is safe for concurrent use and holds no
// state that other nodes cannot see: sessions, keys and tokens live in the Directory.
// What it keeps in memory (parsed keys, the last activity write per session) is a cache.
type Authenticator struct {
	cfg    Config
	dir    Directory
	site   vcd.Site
	logger *slog.Logger

	keys keyring
	// verified caches parseToken's successful verifications (tokencache.go).
	verified verifiedTokens

	dummyOnce sync.Once
	dummyHash []byte // a hash no password matches, for unknown users

	touchMu sync.Mutex
	touched map[string]time.Time // session id -> when this node last wrote LastActive
}

// New returns an Authenticator for the site, backed by dir. Call Open before use. A nil
// logger discards.
func New(cfg Config, dir Directory, site vcd.Site, logger *slog.Logger) *Authenticator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{
		cfg:     cfg.withDefaults(),
		dir:     dir,
		site:    site,
		logger:  logger,
		keys:    keyring{keys: map[string]*signingKey{}},
		touched: map[string]time.Time{},
	}
}

func (a *Authenticator) now() time.Time { return a.cfg.Now() }

// Open loads the signing keys from the Directory and makes sure one can sign: it creates
// a new key when none is valid or the newest is older than KeyLifetime (RotateKeys).
func (a *Authenticator) Open(ctx context.Context) error {
	if err := a.RotateKeys(ctx); err != nil {
		return fmt.Errorf("open auth: %w", err)
	}
	return nil
}
