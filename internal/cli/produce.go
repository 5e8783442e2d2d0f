package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/heraldmq/herald/internal/client"
)

// resolveUserRef returns the URN of user name of org o, or "" when name is empty (the
// producer APIs then use the caller).
func resolveUserRef(ctx context.Context, c *client.Client, o client.Org, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	u, err := c.ResolveUser(ctx, name, o.ID)
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

func (e env) event(ctx context.Context, args []string) error {
	return subcommand("event", args, map[string]func([]string) error{
		"post": func(args []string) error {
			fs := e.newCommand("event post", "", "Post an external event (POST /api/admin/org/{id}/events, sysadmins only);\n"+
				"it is published as EXTERNAL_EVENT on publish/{org}/{user}.")
			rf := bindRemote(fs, false)
			org := fs.String("org", "", "org name or id (required)")
			typ := fs.String("type", "", "event type, e.g. backup/completed (required)")
			ns := fs.String("namespace", "", "service namespace, e.g. org.example.backup (required)")
			user := fs.String("user", "", "user of the org the event concerns (default: the logged-in user)")
			desc := fs.String("description", "", "description (typeFull)")
			failed := fs.Bool("failed", false, "the operation failed (operationSuccess false)")
			var props stringList
			fs.Var(&props, "property", "event property name=value (repeatable)")
			if _, err := parseArgs(fs, args, 0, 0); err != nil {
				return err
			}
			var missing []string
			for _, f := range []struct{ name, v string }{{"-org", *org}, {"-type", *typ}, {"-namespace", *ns}} {
				if f.v == "" {
					missing = append(missing, f.name)
				}
			}
			if len(missing) > 0 {
				return &usageError{"event post: " + strings.Join(missing, ", ") + " required"}
			}
			pm := map[string]string{}
			for _, p := range props {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					return &usageError{fmt.Sprintf("event post: -property %q is not name=value", p)}
				}
				pm[k] = v
			}
			c, ctx, cancel, err := e.open(ctx, rf)
			if err != nil {
				return err
			}
			defer cancel()
			o, err := c.ResolveOrg(ctx, *org)
			if err != nil {
				return apiError(err)
			}
			uid, err := resolveUserRef(ctx, c, o, *user)
			if err != nil {
				return apiError(err)
			}
			if err := c.PostEvent(ctx, o.ID, client.Event{Type: *typ, ServiceNamespace: *ns, Success: !*failed,
				Description: *desc, UserID: uid, Properties: pm}); err != nil {
				return apiError(fmt.Errorf("post event: %w", err))
			}
			fmt.Fprintf(e.stdout, "Posted event %s to org %s\n", *typ, o.Name)
			return nil
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
			fs := e.newCommand("task create", "", "Create a task (POST /api/tasksList/{org}, sysadmins only) and print its id;\n"+
				"it is published as TASK on publish/{org}/{user}.")
			rf := bindRemote(fs, true)
			org := fs.String("org", "", "org name or id (required)")
			op := fs.String("operation", "", "operation shown to people, e.g. \"Backing up VM web-01\" (required)")
			opName := fs.String("operation-name", "", "machine-readable operation name (default: the operation)")
			name := fs.String("name", "", "task name, e.g. task (required)")
			ns := fs.String("namespace", "", "service namespace, e.g. org.example.backup (required)")
			user := fs.String("user", "", "user of the org the task belongs to (default: the logged-in user)")
			status := fs.String("status", "queued", "initial status")
			if _, err := parseArgs(fs, args, 0, 0); err != nil {
				return err
			}
			var missing []string
			for _, f := range []struct{ name, v string }{{"-org", *org}, {"-operation", *op}, {"-name", *name}, {"-namespace", *ns}} {
				if f.v == "" {
					missing = append(missing, f.name)
				}
			}
			if len(missing) > 0 {
				return &usageError{"task create: " + strings.Join(missing, ", ") + " required"}
			}
			if *opName == "" {
				*opName = *op
			}
			c, ctx, cancel, err := e.open(ctx, rf)
			if err != nil {
				return err
			}
			defer cancel()
			o, err := c.ResolveOrg(ctx, *org)
			if err != nil {
				return apiError(err)
			}
			uid, err := resolveUserRef(ctx, c, o, *user)
			if err != nil {
				return apiError(err)
			}
			t, raw, err := c.CreateTask(ctx, o.ID, client.NewTask{Name: *name, Operation: *op, OperationName: *opName,
				ServiceNamespace: *ns, Status: *status, UserID: uid})
			if err != nil {
				return apiError(fmt.Errorf("create task: %w", err))
			}
			return printTask(rf, "Created", t, raw)
		},
		"update": func(args []string) error {
			fs := e.newCommand("task update", "ID", "Change a task's status, progress or details (PUT /api/task/{id}).")
			rf := bindRemote(fs, true)
			status := fs.String("status", "", "queued, preRunning, running, success, error, canceled or aborted (required)")
			progress := fs.Int("progress", -1, "progress, 0 to 100 (default: unchanged)")
			details := fs.String("details", "", "details (default: unchanged)")
			pos, err := parseArgs(fs, args, 1, 1)
			if err != nil {
				return err
			}
			if *status == "" {
				return &usageError{"task update: -status is required"}
			}
			u := client.TaskUpdate{Status: *status}
			if *progress != -1 {
				if *progress < 0 || *progress > 100 {
					return &usageError{fmt.Sprintf("task update: -progress %d is not between 0 and 100", *progress)}
				}
				u.Progress = progress
			}
			fs.Visit(func(f *flag.Flag) {
				if f.Name == "details" {
					u.Details = details
				}
			})
			c, ctx, cancel, err := e.open(ctx, rf)
			if err != nil {
				return err
			}
			defer cancel()
			t, raw, err := c.UpdateTask(ctx, pos[0], u)
			if err != nil {
				return apiError(fmt.Errorf("update task: %w", err))
			}
			return printTask(rf, "Updated", t, raw)
		},
	})
}
