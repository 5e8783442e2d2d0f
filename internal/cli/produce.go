package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/heraldmq/herald/internal/client"
)

// resolveOrgUser resolves org (name or id) and returns it with the URN of its user
// name, or "" when name is empty (the producer APIs then use the caller).
func resolveOrgUser(ctx context.Context, c *client.Client, org, name string) (client.Org, string, error) {
	o, err := c.ResolveOrg(ctx, org)
	if err != nil {
		return o, "", err
	}
	if name == "" {
		return o, "", nil
	}
	u, err := c.ResolveUser(ctx, name, o.ID)
	if err != nil {
		return o, "", err
	}
	return o, u.ID, nil
}

// requireFlags returns a usage error of command name that lists, in order, the flags
// whose value is empty; nameValues are pairs of a flag's name and its value.
func requireFlags(name string, nameValues ...string) error {
	var missing []string
	for i := 0; i+1 < len(nameValues); i += 2 {
		if nameValues[i+1] == "" {
			missing = append(missing, nameValues[i])
		}
	}
	if len(missing) > 0 {
		return &usageError{name + ": " + strings.Join(missing, ", ") + " required"}
	}
	return nil
}

func (e env) event(ctx context.Context, args []string) error {
	return subcommand("event", args, map[string]func([]string) error{
		"post": func(args []string) error {
			var org, typ, ns, user, desc string
			var failed bool
			var props stringList
			pm := map[string]string{}
			cmd := command{name: "event post",
				help: "Post an external event (POST /api/admin/org/{id}/events, sysadmins only);\n" +
					"it is published as EXTERNAL_EVENT on publish/{org}/{user}.",
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&org, "org", "", "org name or id (required)")
					fs.StringVar(&typ, "type", "", "event type, e.g. backup/completed (required)")
					fs.StringVar(&ns, "namespace", "", "service namespace, e.g. org.example.backup (required)")
					fs.StringVar(&user, "user", "", "user of the org the event concerns (default: the logged-in user)")
					fs.StringVar(&desc, "description", "", "description (typeFull)")
					fs.BoolVar(&failed, "failed", false, "the operation failed (operationSuccess false)")
					fs.Var(&props, "property", "event property name=value (repeatable)")
				},
				check: func(*flag.FlagSet, []string) error {
					if err := requireFlags("event post", "-org", org, "-type", typ, "-namespace", ns); err != nil {
						return err
					}
					for _, p := range props {
						k, v, ok := strings.Cut(p, "=")
						if !ok || k == "" {
							return &usageError{fmt.Sprintf("event post: -property %q is not name=value", p)}
						}
						pm[k] = v
					}
					return nil
				}}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, _ *remoteFlags, _ []string) error {
				o, uid, err := resolveOrgUser(ctx, c, org, user)
				if err != nil {
					return apiError(err)
				}
				if err := c.PostEvent(ctx, o.ID, client.Event{Type: typ, ServiceNamespace: ns, Success: !failed,
					Description: desc, UserID: uid, Properties: pm}); err != nil {
					return apiError(fmt.Errorf("post event: %w", err))
				}
				fmt.Fprintf(e.stdout, "Posted event %s to org %s\n", typ, o.Name)
				return nil
			})
		},
	})
}

func (e env) task(ctx context.Context, args []string) error {
	printTask := func(rf *remoteFlags, verb string, t client.Task, raw json.RawMessage) error {
		if rf.json {
			_, err := fmt.Fprintf(e.stdout, "%s\n", raw)
			return err
		}
		fmt.Fprintf(e.stdout, "%s task %s: %s %d%%\n", verb, client.BareID(t.ID), t.Status, t.Progress)
		return nil
	}
	return subcommand("task", args, map[string]func([]string) error{
		"create": func(args []string) error {
			var org, op, opName, name, ns, user, status string
			cmd := command{name: "task create",
				help: "Create a task (POST /api/tasksList/{org}, sysadmins only) and print its id;\n" +
					"it is published as TASK on publish/{org}/{user}.",
				json: true,
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&org, "org", "", "org name or id (required)")
					fs.StringVar(&op, "operation", "", "operation shown to people, e.g. \"Backing up VM web-01\" (required)")
					fs.StringVar(&opName, "operation-name", "", "machine-readable operation name (default: the operation)")
					fs.StringVar(&name, "name", "", "task name, e.g. task (required)")
					fs.StringVar(&ns, "namespace", "", "service namespace, e.g. org.example.backup (required)")
					fs.StringVar(&user, "user", "", "user of the org the task belongs to (default: the logged-in user)")
					fs.StringVar(&status, "status", "queued", "initial status")
				},
				check: func(*flag.FlagSet, []string) error {
					return requireFlags("task create", "-org", org, "-operation", op, "-name", name, "-namespace", ns)
				}}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, _ []string) error {
				if opName == "" {
					opName = op
				}
				o, uid, err := resolveOrgUser(ctx, c, org, user)
				if err != nil {
					return apiError(err)
				}
				t, raw, err := c.CreateTask(ctx, o.ID, client.NewTask{Name: name, Operation: op, OperationName: opName,
					ServiceNamespace: ns, Status: status, UserID: uid})
				if err != nil {
					return apiError(fmt.Errorf("create task: %w", err))
				}
				return printTask(rf, "Created", t, raw)
			})
		},
		"update": func(args []string) error {
			var status, details string
			var progress int
			var u client.TaskUpdate
			cmd := command{name: "task update", usage: "ID", help: "Change a task's status, progress or details (PUT /api/task/{id}).",
				json: true, minPos: 1, maxPos: 1,
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&status, "status", "", "queued, preRunning, running, success, error, canceled or aborted (required)")
					fs.IntVar(&progress, "progress", -1, "progress, 0 to 100 (default: unchanged)")
					fs.StringVar(&details, "details", "", "details (default: unchanged)")
				},
				check: func(fs *flag.FlagSet, _ []string) error {
					if status == "" {
						return &usageError{"task update: -status is required"}
					}
					u.Status = status
					if progress != -1 {
						if progress < 0 || progress > 100 {
							return &usageError{fmt.Sprintf("task update: -progress %d is not between 0 and 100", progress)}
						}
						u.Progress = &progress
					}
					// An empty -details clears them; no -details leaves them as they are.
					fs.Visit(func(f *flag.Flag) {
						if f.Name == "details" {
							u.Details = &details
						}
					})
					return nil
				}}
			return e.runCommand(ctx, cmd, args, func(ctx context.Context, c *client.Client, rf *remoteFlags, pos []string) error {
				t, raw, err := c.UpdateTask(ctx, pos[0], u)
				if err != nil {
					return apiError(fmt.Errorf("update task: %w", err))
				}
				return printTask(rf, "Updated", t, raw)
			})
		},
	})
}
