package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/heraldmq/herald/internal/client"
)

// readSecret returns the value of the environment variable envName or, if it is
// empty, a line read from stdin after prompt. golang.org/x/term is not a dependency,
// so the prompt echoes what is typed; scripts and careful people set the variable.
func (e env) readSecret(envName, prompt string) (string, error) {
	if v := e.getenv(envName); v != "" {
		return v, nil
	}
	if e.stdin == nil {
		return "", fmt.Errorf("set %s", envName)
	}
	fmt.Fprint(e.stderr, prompt)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password (or set %s): %w", envName, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty password (or set %s)", envName)
	}
	return line, nil
}

func (e env) login(ctx context.Context, args []string) error {
	rf, pos, err := e.parseCommand(command{name: "login", usage: "user@org",
		help: "Log in as user@org (System users at the provider endpoint) and keep the\n" +
			"token in $XDG_CONFIG_HOME/herald/credentials.json (mode 0600). The password comes\n" +
			"from HERALD_PASSWORD, else from a prompt on the terminal, which echoes.",
		minPos: 1, maxPos: 1}, args)
	if err != nil {
		return err
	}
	user, org, err := splitUser("login", pos[0])
	if err != nil {
		return err
	}
	// No stored login to use: a client of the flags alone, and the request timeout
	// starts after the password prompt.
	c, ca, err := e.newClient(rf, credentials{})
	if err != nil {
		return err
	}
	pw, err := e.readSecret("HERALD_PASSWORD", "Password for "+pos[0]+" (echoed; or set HERALD_PASSWORD): ")
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	s, err := c.Login(ctx, user, org, pw)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	exp, err := client.TokenExpiry(c.Token)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	path, err := e.saveCredentials(credentials{URL: c.BaseURL, User: s.User.Name, Org: s.Org.Name,
		Token: c.Token, Expiry: exp, CACert: ca})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Logged in as %s@%s (%s) until %s; token kept in %s\n",
		s.User.Name, s.Org.Name, strings.Join(s.Roles, ", "), exp.Local().Format("2006-01-02 15:04 MST"), path)
	return nil
}

func (e env) logout(ctx context.Context, args []string) error {
	rf, _, err := e.parseCommand(command{name: "logout",
		help: "Revoke the stored login's session and remove the stored token."}, args)
	if err != nil {
		return err
	}
	// Not e.session: an expired login is still logged out, so its expiry is not checked.
	cr, err := e.loadCredentials()
	if err != nil {
		return err
	}
	c, _, err := e.newClient(rf, cr)
	if err != nil {
		return err
	}
	c.Token = cr.Token
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	// An expired or already revoked session is as good as logged out; forget it anyway.
	if err := c.Logout(ctx); err != nil && !errors.Is(err, client.ErrUnauthorized) {
		return fmt.Errorf("logout: %w", err)
	}
	if err := e.removeCredentials(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Logged out %s@%s\n", cr.User, cr.Org)
	return nil
}
