package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/heraldmq/herald/internal/client"
)

// subcommand dispatches args[0] of a command group to one of subs.
func subcommand(group string, args []string, subs map[string]func([]string) error) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		return &usageError{fmt.Sprintf("%s: want a subcommand: %s", group, strings.Join(slices.Sorted(slices.Values(names)), ", "))}
	}
	f, ok := subs[args[0]]
	if !ok {
		return &usageError{fmt.Sprintf("%s: unknown subcommand %q", group, args[0])}
	}
	return f(args[1:])
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// table writes rows aligned in columns, the first row being the header.
func table(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func (e env) orgs(ctx context.Context, args []string) error {
	return subcommand("orgs", args, map[string]func([]string) error{
		"list": func(args []string) error {
			cmd := command{name: "orgs list", help: "List the orgs the logged-in user may see.", json: true}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, _ []string) error {
				orgs, err := c.Orgs(ctx)
				if err != nil {
					return apiError(err)
				}
				return printList(e.stdout, rf.json, orgs, []string{"NAME", "DISPLAY NAME", "ENABLED", "USERS", "ID"},
					func(o client.Org) []string {
						return []string{o.Name, o.DisplayName, strconv.FormatBool(o.IsEnabled), strconv.Itoa(o.UserCount), o.ID}
					})
			})
		},
		"create": func(args []string) error {
			var display, desc string
			cmd := command{name: "orgs create", usage: "NAME", help: "Create an enabled org (sysadmins only).",
				json: true, minPos: 1, maxPos: 1,
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&display, "display-name", "", "display name (default: NAME)")
					fs.StringVar(&desc, "description", "", "description")
				}}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, pos []string) error {
				if display == "" {
					display = pos[0]
				}
				o, err := c.CreateOrg(ctx, client.Org{Name: pos[0], DisplayName: display, Description: desc})
				if err != nil {
					return apiError(fmt.Errorf("create org: %w", err))
				}
				if rf.json {
					return printJSON(e.stdout, o)
				}
				fmt.Fprintf(e.stdout, "Created org %s %s\n", o.Name, o.ID)
				return nil
			})
		},
		"delete": func(args []string) error {
			var recursive bool
			cmd := command{name: "orgs delete", usage: "NAME-or-ID", help: "Disable, then delete an org (sysadmins only).",
				minPos: 1, maxPos: 1,
				flags: func(fs *flag.FlagSet) {
					fs.BoolVar(&recursive, "recursive", false, "also delete the org's users")
				}}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, _ *remoteFlags, pos []string) error {
				o, err := c.ResolveOrg(ctx, pos[0])
				if err != nil {
					return apiError(err)
				}
				if err := c.DeleteOrg(ctx, o, recursive); err != nil {
					return apiError(fmt.Errorf("delete org: %w", err))
				}
				fmt.Fprintf(e.stdout, "Deleted org %s %s\n", o.Name, o.ID)
				return nil
			})
		},
	})
}

func (e env) users(ctx context.Context, args []string) error {
	return subcommand("users", args, map[string]func([]string) error{
		"list": func(args []string) error {
			var org string
			cmd := command{name: "users list", help: "List the users the logged-in user may see.", json: true,
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&org, "org", "", "only the users of this org (name or id)")
				}}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, _ []string) error {
				orgID := ""
				if org != "" {
					o, err := c.ResolveOrg(ctx, org)
					if err != nil {
						return apiError(err)
					}
					orgID = o.ID
				}
				users, err := c.Users(ctx, orgID)
				if err != nil {
					return apiError(err)
				}
				return printList(e.stdout, rf.json, users, []string{"USER", "ROLE", "ENABLED", "LOCKED", "ID"},
					func(u client.User) []string {
						role := ""
						if len(u.RoleEntityRefs) > 0 {
							role = u.RoleEntityRefs[0].Name
						}
						return []string{u.Username + "@" + u.OrgEntityRef.Name, role,
							strconv.FormatBool(u.Enabled), strconv.FormatBool(u.Locked), u.ID}
					})
			})
		},
		"create": func(args []string) error {
			var role string
			rf, pos, err := e.parseCommand(command{name: "users create", usage: "USER@ORG",
				help: "Create a user. The password comes from HERALD_NEW_PASSWORD, else from a\nprompt, which echoes.",
				json: true, minPos: 1, maxPos: 1,
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&role, "role", "", "role name, e.g. \"vApp Author\" or \"Organization Administrator\" (required)")
				}}, args)
			if err != nil {
				return err
			}
			name, org, err := splitUser("users create", pos[0])
			if err != nil {
				return err
			}
			if role == "" {
				return &usageError{"users create: -role is required"}
			}
			// Not runCommand: the login is checked before the password prompt, but the
			// request timeout starts after it, since the prompt waits for a person.
			c, _, err := e.session(rf)
			if err != nil {
				return err
			}
			pw, err := e.readSecret("HERALD_NEW_PASSWORD", "Password for the new user "+pos[0]+" (echoed; or set HERALD_NEW_PASSWORD): ")
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(ctx)
			defer cancel()
			u, err := c.CreateUser(ctx, name, org, role, pw)
			if err != nil {
				return apiError(fmt.Errorf("create user: %w", err))
			}
			if rf.json {
				return printJSON(e.stdout, u)
			}
			fmt.Fprintf(e.stdout, "Created user %s@%s %s\n", u.Username, u.OrgEntityRef.Name, u.ID)
			return nil
		},
		"delete": func(args []string) error {
			var name, org string
			cmd := command{name: "users delete", usage: "USER@ORG", help: "Delete a user.", minPos: 1, maxPos: 1,
				check: func(_ *flag.FlagSet, pos []string) (err error) {
					name, org, err = splitUser("users delete", pos[0])
					return err
				}}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, _ *remoteFlags, _ []string) error {
				o, err := c.ResolveOrg(ctx, org)
				if err != nil {
					return apiError(err)
				}
				u, err := c.ResolveUser(ctx, name, o.ID)
				if err != nil {
					return apiError(err)
				}
				if err := c.DeleteUser(ctx, u.ID); err != nil {
					return apiError(fmt.Errorf("delete user: %w", err))
				}
				fmt.Fprintf(e.stdout, "Deleted user %s@%s %s\n", u.Username, o.Name, u.ID)
				return nil
			})
		},
	})
}

func (e env) serviceAccounts(ctx context.Context, args []string) error {
	return subcommand("service-accounts", args, map[string]func([]string) error{
		"list": func(args []string) error {
			cmd := command{name: "service-accounts list", help: "List the MQTT service accounts (sysadmins only).", json: true}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, _ []string) error {
				all, err := c.ServiceAccounts(ctx)
				if err != nil {
					return apiError(err)
				}
				return printList(e.stdout, rf.json, all, []string{"NAME", "ENABLED", "PRODUCER", "SUBSCRIBE", "PUBLISH", "ID"},
					func(s client.ServiceAccount) []string {
						return []string{s.Name, strconv.FormatBool(s.Enabled), strconv.FormatBool(s.Producer), strings.Join(s.Subscribe, ","), strings.Join(s.Publish, ","), s.ID}
					})
			})
		},
		"create": func(args []string) error {
			var pub, sub stringList
			var producer bool
			cmd := command{name: "service-accounts create", usage: "NAME",
				help: "Create an MQTT service account (sysadmins only) and print its secret,\nwhich is shown only this once.",
				json: true, minPos: 1, maxPos: 1,
				flags: func(fs *flag.FlagSet) {
					fs.Var(&pub, "publish", "MQTT filter the account may publish to (repeatable)")
					fs.Var(&sub, "subscribe", "MQTT filter the account may subscribe to (repeatable)")
					fs.BoolVar(&producer, "producer", false, "allow grants under publish/ and metrics/ (a notification producer)")
				}}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, pos []string) error {
				sa, err := c.CreateServiceAccount(ctx, client.ServiceAccount{Name: pos[0], Producer: producer,
					Publish: pub, Subscribe: sub})
				if err != nil {
					return apiError(fmt.Errorf("create service account: %w", err))
				}
				if rf.json {
					return printJSON(e.stdout, sa)
				}
				fmt.Fprintf(e.stdout, "Created service account %s %s\n", sa.Name, sa.ID)
				if sa.Secret != nil {
					fmt.Fprintf(e.stdout, "Secret (shown only once): %s\n", *sa.Secret)
				}
				return nil
			})
		},
		"delete": func(args []string) error {
			cmd := command{name: "service-accounts delete", usage: "NAME-or-ID",
				help: "Delete an MQTT service account; its connections close.", minPos: 1, maxPos: 1}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, _ *remoteFlags, pos []string) error {
				sa, err := c.ResolveServiceAccount(ctx, pos[0])
				if err != nil {
					return apiError(err)
				}
				if err := c.DeleteServiceAccount(ctx, sa.ID); err != nil {
					return apiError(fmt.Errorf("delete service account: %w", err))
				}
				fmt.Fprintf(e.stdout, "Deleted service account %s %s\n", sa.Name, sa.ID)
				return nil
			})
		},
	})
}

func (e env) token(ctx context.Context, args []string) error {
	return subcommand("token", args, map[string]func([]string) error{
		"create": func(args []string) error {
			cmd := command{name: "token create", usage: "NAME",
				help: "Create an API token and print it, shown only this once. Exchange it for a\nsession at /oauth/{tenant/ORG|provider}/token (VCD-COMPAT §4.1).",
				json: true, minPos: 1, maxPos: 1}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, pos []string) error {
				t, err := c.CreateToken(ctx, pos[0])
				if err != nil {
					return apiError(fmt.Errorf("create token: %w", err))
				}
				if rf.json {
					return printJSON(e.stdout, t)
				}
				fmt.Fprintf(e.stdout, "Created API token %s %s\n", t.Name, t.ID)
				if t.Token != nil {
					fmt.Fprintf(e.stdout, "Token (shown only once): %s\n", *t.Token)
				}
				return nil
			})
		},
		"list": func(args []string) error {
			cmd := command{name: "token list", help: "List the API tokens the logged-in user may manage.", json: true}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, _ []string) error {
				all, err := c.Tokens(ctx)
				if err != nil {
					return apiError(err)
				}
				return printList(e.stdout, rf.json, all, []string{"NAME", "TYPE", "OWNER", "ID"},
					func(t client.Token) []string { return []string{t.Name, t.Type, t.Owner.Name + "@" + t.Org.Name, t.ID} })
			})
		},
		"revoke": func(args []string) error {
			cmd := command{name: "token revoke", usage: "ID", help: "Revoke an API token (sessions it opened continue).",
				minPos: 1, maxPos: 1}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, _ *remoteFlags, pos []string) error {
				if err := c.RevokeToken(ctx, pos[0]); err != nil {
					return apiError(fmt.Errorf("revoke token: %w", err))
				}
				fmt.Fprintf(e.stdout, "Revoked API token %s\n", pos[0])
				return nil
			})
		},
	})
}

// printList prints items as JSON, or as a table with header and one row per item.
func printList[T any](w io.Writer, asJSON bool, items []T, header []string, row func(T) []string) error {
	if asJSON {
		return printJSON(w, items)
	}
	rows := [][]string{header}
	for _, it := range items {
		rows = append(rows, row(it))
	}
	table(w, rows)
	return nil
}
