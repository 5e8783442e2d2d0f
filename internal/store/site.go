package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// siteKey is the herald_meta key of the site identity.
const siteKey = "site"

// ensureSite reads the site identity, creating it on the first start. KV Create makes
// the id the same for every node, whichever starts first.
func (db *DB) ensureSite(ctx context.Context, meta jetstream.KeyValue) error {
	for range 2 {
		e, err := meta.Get(ctx, siteKey)
		if err == nil {
			var s vcd.Site
			if err := json.Unmarshal(e.Value(), &s); err != nil {
				return fmt.Errorf("decode site: %w", err)
			}
			db.site = vcd.Site{ID: s.ID, Name: db.cfg.SiteName}
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return unavailable("get site", err)
		}
		s := vcd.Site{ID: vcd.NewUUID(), Name: db.cfg.SiteName}
		data, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encode site: %w", err)
		}
		_, err = meta.Create(ctx, siteKey, data)
		if err == nil {
			db.site = s
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return unavailable("create site", err)
		}
		// Another node created it first: read theirs.
	}
	return vcd.Errorf(vcd.CodeUnavailable, "site identity could not be read")
}

// Site returns this installation's identity: an id generated once for the whole
// cluster and the name from Config.SiteName.
func (db *DB) Site(ctx context.Context) (vcd.Site, error) {
	return db.site, nil
}
