package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/client"
	"github.com/heraldmq/herald/internal/config"
)

// defaultURL is the server a client command talks to when neither -url nor a stored
// login names one: serve's default address on this machine.
const defaultURL = "https://localhost:8443"

// remoteFlags are the flags every command that talks to a server shares.
type remoteFlags struct {
	url      string
	cacert   string
	dataDir  string
	insecure bool
	json     bool
}

// bindRemote adds -url, -cacert, -insecure and -data-dir to fs, and -json when the
// command prints data.
func bindRemote(fs *flag.FlagSet, withJSON bool) *remoteFlags {
	rf := &remoteFlags{}
	fs.StringVar(&rf.url, "url", "", "server URL (default: $HERALD_URL, else the stored login's, else "+defaultURL+")")
	fs.StringVar(&rf.cacert, "cacert", "", "PEM file of the CA to trust (default: the stored login's, else <data-dir>/tls/ca.pem if present)")
	fs.StringVar(&rf.dataDir, "data-dir", config.Default().DataDir, "server data directory, to find its generated CA")
	fs.BoolVar(&rf.insecure, "insecure", false, "do not verify the server's certificate (testing only)")
	if withJSON {
		fs.BoolVar(&rf.json, "json", false, "print JSON instead of text")
	}
	return rf
}

// credentials are what login keeps in the user's config directory. The token is a
// secret: the file is 0600 in a 0700 directory, and the CLI never prints it.
type credentials struct {
	URL    string    `json:"url"`
	User   string    `json:"user"`
	Org    string    `json:"org"`
	Token  string    `json:"token"`
	Expiry time.Time `json:"expiry"`
	CACert string    `json:"caCert,omitempty"` // the CA file login trusted, used again
}

// errNotLoggedIn is returned by commands that need a stored login when there is none.
var errNotLoggedIn = errors.New("not logged in: run 'herald login user@org' first")

// credentialsPath is $XDG_CONFIG_HOME/herald/credentials.json, or
// $HOME/.config/herald/credentials.json.
func (e env) credentialsPath() (string, error) {
	dir := e.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := e.getenv("HOME")
		if home == "" {
			return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "herald", "credentials.json"), nil
}

// loadCredentials reads the stored login; errNotLoggedIn when there is none.
func (e env) loadCredentials() (credentials, error) {
	var c credentials
	path, err := e.credentialsPath()
	if err != nil {
		return c, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, errNotLoggedIn
	}
	if err != nil {
		return c, fmt.Errorf("read credentials: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read credentials %s: %w", path, err)
	}
	if c.Token == "" {
		return c, errNotLoggedIn
	}
	return c, nil
}

// saveCredentials writes c with mode 0600 in a 0700 directory, replacing the file
// atomically so that a reader never sees half of it.
func (e env) saveCredentials(c credentials) (string, error) {
	path, err := e.credentialsPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	// MkdirAll keeps an existing directory's mode; tighten it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("chmod %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return "", fmt.Errorf("write credentials: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	// CreateTemp makes the file 0600; Chmod states it regardless of the umask.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", fmt.Errorf("write credentials: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", fmt.Errorf("write credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", fmt.Errorf("write credentials: %w", err)
	}
	return path, nil
}

// removeCredentials deletes the stored login, if any.
func (e env) removeCredentials() error {
	path, err := e.credentialsPath()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove credentials: %w", err)
	}
	return nil
}

// newClient builds a client from the flags, falling back to the stored login's URL and
// CA file. It returns the CA file it used ("" for the system roots).
func (e env) newClient(rf *remoteFlags, stored credentials) (*client.Client, string, error) {
	base := rf.url
	if base == "" {
		base = e.getenv("HERALD_URL")
	}
	if base == "" {
		base = stored.URL
	}
	if base == "" {
		base = defaultURL
	}
	ca := rf.cacert
	if ca == "" && rf.url == "" {
		ca = stored.CACert
	}
	if ca == "" {
		if p := filepath.Join(rf.dataDir, "tls", "ca.pem"); rf.dataDir != "" {
			if _, err := os.Stat(p); err == nil {
				ca = p
			}
		}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case rf.insecure:
		tc.InsecureSkipVerify = true
		ca = ""
	case ca != "":
		abs, err := filepath.Abs(ca)
		if err != nil {
			return nil, "", err
		}
		ca = abs
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, "", fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("CA file %s holds no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, "", &usageError{fmt.Sprintf("-url %q must start with https:// or http://", base)}
	}
	return client.New(base, tc), ca, nil
}

// session returns a client holding the stored login's token, refusing an expired one.
func (e env) session(rf *remoteFlags) (*client.Client, credentials, error) {
	cr, err := e.loadCredentials()
	if err != nil {
		return nil, cr, err
	}
	if !cr.Expiry.IsZero() && !e.now().Before(cr.Expiry) {
		return nil, cr, fmt.Errorf("the stored login of %s@%s expired at %s: run 'herald login' again",
			cr.User, cr.Org, cr.Expiry.Format(time.RFC3339))
	}
	c, _, err := e.newClient(rf, cr)
	if err != nil {
		return nil, cr, err
	}
	c.Token = cr.Token
	return c, cr, nil
}

// apiError adds a hint to errors that mean the login is no longer valid.
func apiError(err error) error {
	if errors.Is(err, client.ErrUnauthorized) {
		return fmt.Errorf("%w (the login expired or was revoked: run 'herald login' again)", err)
	}
	return err
}

// parseArgs parses flags anywhere among args (Go's flag package stops at the first
// positional argument) and returns the positional arguments, of which there must be
// between minPos and maxPos (maxPos < 0: any number).
func parseArgs(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < minPos:
		return nil, &usageError{fmt.Sprintf("%s: missing argument", fs.Name())}
	case maxPos >= 0 && len(pos) > maxPos:
		return nil, &usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), pos[maxPos])}
	}
	return pos, nil
}

// withTimeout bounds one REST command.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*time.Minute)
}

// newCommand returns the flag set of a command whose usage line shows usage, its
// positional arguments, and whose -h prints help and the flags.
func (e env) newCommand(name, usage, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: herald %s [flags] %s\n\n%s\n\nFlags:\n", name, usage, help)
		fs.PrintDefaults()
	}
	return fs
}

// command is the command line of a client subcommand: what its usage shows, whether
// it prints data (-json), how many positional arguments it takes, and the flags and
// checks that are its own. The zero minPos and maxPos take no positional argument.
type command struct {
	name, usage, help string // as for newCommand
	json              bool   // also bind -json
	minPos, maxPos    int    // as for parseArgs
	// flags binds the command's own flags, besides the remote ones; nil: none.
	flags func(fs *flag.FlagSet)
	// check validates the parsed command line. It runs before any login is read or
	// client opened, so that a usage error (exit 2) wins over a missing login (exit 1).
	// nil: nothing to check.
	check func(fs *flag.FlagSet, pos []string) error
}

// parseCommand binds the remote flags and cmd's own, parses args and checks them. It
// returns the remote flags and the positional arguments.
func (e env) parseCommand(cmd command, args []string) (*remoteFlags, []string, error) {
	fs := e.newCommand(cmd.name, cmd.usage, cmd.help)
	rf := bindRemote(fs, cmd.json)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	pos, err := parseArgs(fs, args, cmd.minPos, cmd.maxPos)
	if err != nil {
		return nil, nil, err
	}
	if cmd.check != nil {
		if err := cmd.check(fs, pos); err != nil {
			return nil, nil, err
		}
	}
	return rf, pos, nil
}

// runCommand parses args as cmd, opens a client on the stored login and calls body
// with a context bounded by the request timeout. Commands that must not start that
// timeout at once, or that need more of the login, call parseCommand and e.session.
func (e env) runCommand(ctx context.Context, cmd command, args []string,
	body func(ctx context.Context, c *client.Client, rf *remoteFlags, pos []string) error) error {
	rf, pos, err := e.parseCommand(cmd, args)
	if err != nil {
		return err
	}
	c, _, err := e.session(rf)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	return body(ctx, c, rf, pos)
}

// splitUser splits the positional argument user@org of command name; a usage error if
// it is not of that form.
func splitUser(name, arg string) (user, org string, err error) {
	user, org, ok := client.SplitName(arg)
	if !ok {
		return "", "", &usageError{fmt.Sprintf("%s: %q is not user@org", name, arg)}
	}
	return user, org, nil
}
