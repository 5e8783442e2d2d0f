// Package cli implements herald's command line: one flag.FlagSet per subcommand,
// dispatched with a switch. Run returns the process exit code: 0 on success, 1 on
// error, 2 on a usage error.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

// Version is herald's version, set at build time with
// -ldflags "-X github.com/heraldmq/herald/internal/cli.Version=v1.2.3".
var Version = "dev"

// usageError is a mistake in the command line; Run prints it with a hint and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// env is what a command may read of its process: injected so commands are testable.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	stdin          io.Reader        // nil: empty
	clock          func() time.Time // nil: time.Now
}

// now returns the current time from e's clock.
func (e env) now() time.Time {
	if e.clock != nil {
		return e.clock()
	}
	return time.Now()
}

const usage = `herald serves VMware Cloud Director's login API and MQTT notifications.

Usage:
  herald <command> [flags]

Commands:
  serve             run the server
  check-config      validate the configuration and exit
  migrate           move a single node's data dir into a new cluster (docs/CLUSTER.md)
  version           print the version

  login             log in as user@org and keep the token (HERALD_PASSWORD or a prompt)
  logout            revoke the stored login's session and forget it
  tail              print the notifications the logged-in user may see, as they come
  orgs              list, create or delete orgs
  users             list, create or delete users
  service-accounts  list, create or delete MQTT service accounts
  token             create, list or revoke API tokens
  event post        post an external event (producer API)
  task              create or update a task (producer API)

Run 'herald <command> -h' for a command's flags.
`

// Run runs the command line args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := env{stdout: stdout, stderr: stderr, getenv: os.Getenv, stdin: os.Stdin}
	return e.run(ctx, args)
}

func (e env) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = e.serve(ctx, rest)
	case "migrate":
		err = e.migrate(ctx, rest)
	case "check-config":
		err = e.checkConfig(rest)
	case "version", "--version", "-version":
		err = e.version(rest)
	case "login":
		err = e.login(ctx, rest)
	case "logout":
		err = e.logout(ctx, rest)
	case "tail":
		err = e.tail(ctx, rest)
	case "orgs":
		err = e.orgs(ctx, rest)
	case "users":
		err = e.users(ctx, rest)
	case "service-accounts":
		err = e.serviceAccounts(ctx, rest)
	case "token":
		err = e.token(ctx, rest)
	case "event":
		err = e.event(ctx, rest)
	case "task":
		err = e.task(ctx, rest)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(e.stdout, usage)
		return 0
	default:
		err = &usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "herald: %v\nRun 'herald help' or 'herald <command> -h' for usage.\n", err)
		return 2
	default:
		fmt.Fprintf(e.stderr, "herald: %v\n", err)
		return 1
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func (e env) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: herald %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and turns flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func (e env) version(args []string) error {
	fs := e.newFlagSet("version", "Print herald's version.")
	if err := parse(fs, args); err != nil {
		return err
	}
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	fmt.Fprintf(e.stdout, "herald %s\n", v)
	return nil
}

// newLogger builds the process logger from the configured level and format.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "trace":
		l = slog.LevelDebug - 4
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
