package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/config"
)

// TestMetrics_LoadAndValidate: the keys of VCD-COMPAT §9.1 load from YAML, default to
// off and 20s, and the interval is validated.
func TestMetrics_LoadAndValidate(t *testing.T) {
	c := config.Default()
	if c.Metrics.Publishing.Enabled || c.Metrics.Simulator.Enabled || c.Metrics.Interval.D() != 20*time.Second {
		t.Errorf("default metrics = %+v; want off, 20s", c.Metrics)
	}
	path := filepath.Join(t.TempDir(), "herald.yaml")
	data := "metrics:\n  publishing:\n    enabled: true\n  interval: 5s\n  simulator:\n    enabled: true\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if !c.Metrics.Publishing.Enabled || !c.Metrics.Simulator.Enabled || c.Metrics.Interval.D() != 5*time.Second {
		t.Errorf("loaded metrics = %+v", c.Metrics)
	}
	for _, tc := range []struct {
		name string
		d    time.Duration
		ok   bool
	}{{"1s", time.Second, true}, {"1h", time.Hour, true}, {"zero", 0, false}, {"fraction", 1500 * time.Millisecond, false}, {"too long", 2 * time.Hour, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.Metrics.Interval = config.Duration(tc.d)
			err := c.Validate()
			if (err == nil) != tc.ok || err != nil && !strings.Contains(err.Error(), "metrics.interval") {
				t.Errorf("Validate(interval %v) = %v; want ok %v", tc.d, err, tc.ok)
			}
		})
	}
}
