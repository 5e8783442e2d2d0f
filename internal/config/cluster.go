package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// validName reports whether s is usable as a NATS server or cluster name and as one
// token of a NATS subject: 1 to 64 characters of [-_a-zA-Z0-9].
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// RouteURL returns the nats-route URL of a route given as host:port or as a URL
// (nats-route://, nats://, tls://), or an error naming what is wrong.
func RouteURL(r string) (*url.URL, error) {
	if !strings.Contains(r, "://") {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return nil, fmt.Errorf("not host:port or a URL: %w", err)
		}
		r = "nats-route://" + r
	}
	u, err := url.Parse(r)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "nats-route", "nats", "tls":
	default:
		return nil, fmt.Errorf("scheme %q: want nats-route, nats or tls", u.Scheme)
	}
	if u.Port() == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host:port", r)
	}
	if u.User != nil {
		return nil, fmt.Errorf("route %s carries credentials: set clusterSecret instead", u.Redacted())
	}
	return u, nil
}

// validateCluster checks the cell-mode and external-mode settings of s.
func (s StoreConfig) validateCluster() []error {
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Value: value, Err: fmt.Errorf(format, args...)})
	}
	if s.Clustered() && !validName(s.ServerName) {
		// The name is also the node's id in session records and cluster subjects.
		bad("store.serverName", s.ServerName, "must be 1-64 characters of [-_a-zA-Z0-9] in a cluster")
	}
	if s.MaxMemory < 0 {
		bad("store.maxMemory", s.MaxMemory, "must not be negative")
	}
	if s.MaxStore < 0 {
		bad("store.maxStore", s.MaxStore, "must not be negative")
	}
	cell := s.ClusterName != "" || s.ClusterAddr != "" || len(s.Routes) > 0 || s.ClusterAdvertise != "" ||
		s.ClusterSecret != "" || s.ClusterTLSCert != "" || s.ClusterTLSKey != "" || s.ClusterTLSCA != ""
	external := s.NATSURL != "" || s.NATSCredsFile != "" || s.NATSUser != "" || s.NATSPassword != "" ||
		s.NATSCA != "" || s.NATSCert != "" || s.NATSKey != ""
	if cell {
		if !validName(s.ClusterName) {
			bad("store.clusterName", s.ClusterName, "must be set, 1-64 characters of [-_a-zA-Z0-9], when any cluster option is")
		}
		if s.NATSURL != "" {
			bad("store.clusterName", s.ClusterName, "cell mode and natsURL exclude each other")
		}
		if _, _, err := net.SplitHostPort(s.ClusterAddr); err != nil {
			bad("store.clusterAddr", s.ClusterAddr, "must be the route listen host:port: %v", err)
		}
		if s.ClusterAdvertise != "" {
			if _, _, err := net.SplitHostPort(s.ClusterAdvertise); err != nil {
				bad("store.clusterAdvertise", s.ClusterAdvertise, "not a host:port address: %v", err)
			}
		}
		for _, r := range s.Routes {
			if _, err := RouteURL(r); err != nil {
				bad("store.routes", r, "%v", err)
			}
		}
		if s.ClusterSecret != "" && len(s.ClusterSecret) < 16 {
			bad("store.clusterSecret", "(hidden)", "must have at least 16 characters")
		}
		if (s.ClusterTLSCert == "") != (s.ClusterTLSKey == "") || (s.ClusterTLSCert != "" && s.ClusterTLSCA == "") ||
			(s.ClusterTLSCA != "" && s.ClusterTLSCert == "") {
			bad("store.clusterTLSCert", s.ClusterTLSCert, "clusterTLSCert, clusterTLSKey and clusterTLSCA go together")
		}
	}
	if external {
		if s.NATSURL == "" {
			bad("store.natsURL", s.NATSURL, "must be set with natsCredsFile, natsUser, natsPassword, natsCA, natsCert or natsKey")
		}
		for _, u := range strings.Split(s.NATSURL, ",") {
			if s.NATSURL == "" {
				break
			}
			if pu, err := url.Parse(strings.TrimSpace(u)); err != nil || pu.Host == "" {
				bad("store.natsURL", "(not shown)", "an entry is not a URL such as nats://host:4222")
			} else if pu.User != nil {
				bad("store.natsURL", pu.Redacted(), "carries credentials: use natsUser and HERALD_NATS_PASSWORD or natsCredsFile")
			}
		}
		if (s.NATSUser == "") != (s.NATSPassword == "") {
			bad("store.natsUser", s.NATSUser, "natsUser and natsPassword go together")
		}
		if s.NATSUser != "" && s.NATSCredsFile != "" {
			bad("store.natsCredsFile", s.NATSCredsFile, "natsCredsFile and natsUser exclude each other")
		}
		if (s.NATSCert == "") != (s.NATSKey == "") {
			bad("store.natsCert", s.NATSCert, "natsCert and natsKey go together")
		}
	}
	return errs
}
