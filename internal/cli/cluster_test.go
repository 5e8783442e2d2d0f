package cli

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/config"
)

func TestRun_ClusterFlags(t *testing.T) {
	cell := []string{"-server-name", "n1", "-replicas", "3", "-cluster-name", "herald", "-cluster-addr", "127.0.0.1:6222",
		"-routes", "127.0.0.1:6222,127.0.0.1:6223", "-routes", "127.0.0.1:6224"}
	tests := []struct {
		name    string
		environ map[string]string
		args    []string
		code    int
		stdout  string
		stderr  string
	}{
		{"cell ok", nil, append([]string{"check-config"}, cell...), 0, "configuration ok", ""},
		{"cell short secret", map[string]string{"HERALD_CLUSTER_SECRET": "tiny"}, append([]string{"check-config"}, cell...),
			1, "", "store.clusterSecret"},
		{"cell without addr", nil, []string{"check-config", "-cluster-name", "herald"}, 1, "", "store.clusterAddr"},
		{"external ok", map[string]string{"HERALD_NATS_PASSWORD": "pw"}, []string{"check-config", "-server-name", "h1",
			"-nats-url", "tls://n1:4222,tls://n2:4222", "-nats-user", "herald", "-nats-ca", "ca.pem"}, 0, "configuration ok", ""},
		{"external user without password", nil, []string{"check-config", "-nats-url", "nats://n1:4222", "-nats-user", "herald"},
			1, "", "store.natsUser"},
		{"migrate without from", nil, append([]string{"migrate"}, cell...), 2, "", "-from is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.environ, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("herald %v = %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
			if strings.Contains(errOut, "tiny") {
				t.Errorf("stderr shows the secret: %q", errOut)
			}
		})
	}
}

// TestRoutesFlag: -routes takes comma-separated lists, repeated, and replaces the
// file's list rather than adding to it.
func TestRoutesFlag(t *testing.T) {
	c := config.Default()
	c.Store.Routes = []string{"from-file:6222"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	clusterFlags(fs, &c)
	if err := fs.Parse([]string{"-routes", "a:1, b:2", "-routes", "c:3"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:1", "b:2", "c:3"}; !slices.Equal(c.Store.Routes, want) {
		t.Errorf("routes = %v; want %v", c.Store.Routes, want)
	}
}
