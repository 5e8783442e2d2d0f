package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

const cloudAPI = "/cloudapi/1.0.0"

// Org is an org as /cloudapi/1.0.0/orgs writes it (VCD-COMPAT §5.1).
type Org struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	IsEnabled   bool   `json:"isEnabled"`
	UserCount   int    `json:"userCount"`
}

// Orgs lists the orgs the caller may see.
func (c *Client) Orgs(ctx context.Context) ([]Org, error) {
	return listInto[Org](ctx, c, cloudAPI+"/orgs", "")
}

// CreateOrg creates an enabled org and returns it.
func (c *Client) CreateOrg(ctx context.Context, o Org) (Org, error) {
	o.IsEnabled = true
	var out Org
	err := c.Do(ctx, http.MethodPost, cloudAPI+"/orgs", o, &out)
	return out, err
}

// ResolveOrg finds an org by URN, bare UUID or (case-insensitive) name. An org that
// does not exist or that the caller may not see is an error.
func (c *Client) ResolveOrg(ctx context.Context, nameOrID string) (Org, error) {
	var o Org
	if isUUIDish(nameOrID) {
		err := c.Do(ctx, http.MethodGet, cloudAPI+"/orgs/"+url.PathEscape(nameOrID), nil, &o)
		return o, err
	}
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return o, err
	}
	for _, o := range orgs {
		if strings.EqualFold(o.Name, nameOrID) {
			return o, nil
		}
	}
	return o, fmt.Errorf("no org %q", nameOrID)
}

// DeleteOrg deletes an org, disabling it first as VCD requires (VCD-COMPAT §5.1);
// recursive also deletes its users.
func (c *Client) DeleteOrg(ctx context.Context, o Org, recursive bool) error {
	if o.IsEnabled {
		o.IsEnabled = false
		if err := c.Do(ctx, http.MethodPut, cloudAPI+"/orgs/"+url.PathEscape(o.ID), o, nil); err != nil {
			return fmt.Errorf("disable org: %w", err)
		}
	}
	path := cloudAPI + "/orgs/" + url.PathEscape(o.ID)
	if recursive {
		path += "?recursive=true"
	}
	return c.Do(ctx, http.MethodDelete, path, nil, nil)
}

// User is a user as /cloudapi/1.0.0/users writes it (VCD-COMPAT §5.2).
type User struct {
	ID             string  `json:"id,omitempty"`
	Username       string  `json:"username"`
	FullName       string  `json:"fullName,omitempty"`
	Email          string  `json:"email,omitempty"`
	RoleEntityRefs []Ref   `json:"roleEntityRefs"`
	OrgEntityRef   Ref     `json:"orgEntityRef"`
	Password       *string `json:"password,omitempty"`
	Enabled        bool    `json:"enabled"`
	Locked         bool    `json:"locked"`
}

// Users lists the users the caller may see; orgID (a URN), if not empty, narrows the
// list to one org.
func (c *Client) Users(ctx context.Context, orgID string) ([]User, error) {
	filter := ""
	if orgID != "" {
		filter = "orgEntityRef.id==" + orgID
	}
	return listInto[User](ctx, c, cloudAPI+"/users", filter)
}

// CreateUser creates an enabled user name in org (by name) with role (by name) and
// password, and returns it.
func (c *Client) CreateUser(ctx context.Context, name, org, role, password string) (User, error) {
	in := User{Username: name, RoleEntityRefs: []Ref{{Name: role}}, OrgEntityRef: Ref{Name: org},
		Password: &password, Enabled: true}
	var out User
	err := c.Do(ctx, http.MethodPost, cloudAPI+"/users", in, &out)
	return out, err
}

// ResolveUser finds user name (case-insensitive) of the org with URN orgID.
func (c *Client) ResolveUser(ctx context.Context, name, orgID string) (User, error) {
	users, err := c.Users(ctx, orgID)
	if err != nil {
		return User{}, err
	}
	for _, u := range users {
		if strings.EqualFold(u.Username, name) {
			return u, nil
		}
	}
	return User{}, fmt.Errorf("no user %q in the org", name)
}

// DeleteUser deletes the user with URN id.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, cloudAPI+"/users/"+url.PathEscape(id), nil, nil)
}

// Token is an API token (VCD-COMPAT §4.2); Token.Token holds the secret only in the
// answer that created it.
type Token struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	Token             *string `json:"token"`
	ExpirationTimeUTC *string `json:"expirationTimeUtc"`
	Owner             Ref     `json:"owner"`
	Org               Ref     `json:"org"`
	Type              string  `json:"type"`
}

// CreateToken creates an API token (type REFRESH) named name with herald's one-call
// shortcut and returns it with its secret.
func (c *Client) CreateToken(ctx context.Context, name string) (Token, error) {
	var t Token
	err := c.Do(ctx, http.MethodPost, cloudAPI+"/tokens", map[string]string{"name": name, "type": "REFRESH"}, &t)
	return t, err
}

// Tokens lists the API tokens the caller may manage.
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	return listInto[Token](ctx, c, cloudAPI+"/tokens", "")
}

// RevokeToken revokes the API token with id (URN or bare UUID).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, cloudAPI+"/tokens/"+url.PathEscape(id), nil, nil)
}

const heraldAPI = "/cloudapi/herald/1.0.0"

// ServiceAccount is an MQTT service account (VCD-COMPAT §6.3); Secret is set only in the
// answer that created it.
type ServiceAccount struct {
	ID        string   `json:"id,omitempty"`
	Name      string   `json:"name"`
	Enabled   bool     `json:"enabled"`
	Producer  bool     `json:"producer"`
	Subscribe []string `json:"subscribe"`
	Publish   []string `json:"publish"`
	Secret    *string  `json:"secret,omitempty"`
}

// ServiceAccounts lists every MQTT service account (sysadmins only).
func (c *Client) ServiceAccounts(ctx context.Context) ([]ServiceAccount, error) {
	return listInto[ServiceAccount](ctx, c, heraldAPI+"/serviceAccounts", "")
}

// CreateServiceAccount creates an enabled account and returns it with its secret.
func (c *Client) CreateServiceAccount(ctx context.Context, sa ServiceAccount) (ServiceAccount, error) {
	sa.Enabled = true
	if sa.Subscribe == nil {
		sa.Subscribe = []string{}
	}
	if sa.Publish == nil {
		sa.Publish = []string{}
	}
	var out ServiceAccount
	err := c.Do(ctx, http.MethodPost, heraldAPI+"/serviceAccounts", sa, &out)
	return out, err
}

// ResolveServiceAccount finds an account by URN, bare UUID or name.
func (c *Client) ResolveServiceAccount(ctx context.Context, nameOrID string) (ServiceAccount, error) {
	all, err := c.ServiceAccounts(ctx)
	if err != nil {
		return ServiceAccount{}, err
	}
	for _, sa := range all {
		if strings.EqualFold(sa.ID, nameOrID) || strings.EqualFold(BareID(sa.ID), nameOrID) || sa.Name == nameOrID {
			return sa, nil
		}
	}
	return ServiceAccount{}, fmt.Errorf("no service account %q", nameOrID)
}

// DeleteServiceAccount deletes the account with URN id.
func (c *Client) DeleteServiceAccount(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, heraldAPI+"/serviceAccounts/"+url.PathEscape(id), nil, nil)
}

// isUUIDish reports whether s is a URN or a bare UUID rather than a name.
func isUUIDish(s string) bool {
	s = BareID(s)
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case '0' <= r && r <= '9', 'a' <= r && r <= 'f', 'A' <= r && r <= 'F':
		default:
			return false
		}
	}
	return true
}

// Event is an external event to post (VCD-COMPAT §8.3), in VCD's legacy JSON naming.
type Event struct {
	Type             string            // required, not com/vmware/vcloud…
	ServiceNamespace string            // required, not com.vmware.vcloud…
	Success          bool              // operation success
	Description      string            // typeFull
	UserID           string            // user URN; empty: the caller
	Properties       map[string]string // name → value
}

// PostEvent posts e as an external event of the org with URN or UUID orgID.
func (c *Client) PostEvent(ctx context.Context, orgID string, e Event) error {
	type prop struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	body := map[string]any{"type": e.Type, "serviceNamespace": e.ServiceNamespace, "success": e.Success,
		"typeFull": e.Description}
	if e.UserID != "" {
		body["user"] = map[string]string{"id": e.UserID}
	}
	if len(e.Properties) > 0 {
		props := make([]prop, 0, len(e.Properties))
		for k, v := range e.Properties {
			props = append(props, prop{k, v})
		}
		body["eventProperties"] = map[string]any{"eventProperty": props}
	}
	return c.Do(ctx, http.MethodPost, "/api/admin/org/"+url.PathEscape(BareID(orgID))+"/events", body, nil)
}

// Task is the part of VCD's Task JSON (VCD-COMPAT §8.4) the CLI shows.
type Task struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Status           string `json:"status"`
	Progress         int    `json:"progress"`
	Operation        string `json:"operation"`
	OperationName    string `json:"operationName"`
	ServiceNamespace string `json:"serviceNamespace"`
	Details          string `json:"details"`
}

// NewTask is what a producer gives to create a task.
type NewTask struct {
	Name             string
	Operation        string // shown to people
	OperationName    string // machine name
	ServiceNamespace string
	Status           string // default queued
	UserID           string // user URN; empty: the caller
}

// CreateTask creates a task in the org with URN or UUID orgID (sysadmins only) and
// returns it, with its raw Task JSON.
func (c *Client) CreateTask(ctx context.Context, orgID string, t NewTask) (Task, json.RawMessage, error) {
	if t.Status == "" {
		t.Status = "queued"
	}
	body := map[string]any{"name": t.Name, "status": t.Status, "operation": t.Operation,
		"operationName": t.OperationName, "serviceNamespace": t.ServiceNamespace, "progress": 0}
	if t.UserID != "" {
		body["user"] = map[string]string{"id": t.UserID}
	}
	var raw json.RawMessage
	if err := c.Do(ctx, http.MethodPost, "/api/tasksList/"+url.PathEscape(BareID(orgID)), body, &raw); err != nil {
		return Task{}, nil, err
	}
	var out Task
	err := json.Unmarshal(raw, &out)
	return out, raw, err
}

// TaskUpdate is a change to a task; nil fields keep their value.
type TaskUpdate struct {
	Status   string
	Progress *int
	Details  *string
}

// UpdateTask reads the task with id (URN or UUID), applies u and puts the full Task back
// (PUT /api/task/{id} replaces it), returning the answer.
func (c *Client) UpdateTask(ctx context.Context, id string, u TaskUpdate) (Task, json.RawMessage, error) {
	path := "/api/task/" + url.PathEscape(BareID(id))
	var full map[string]any
	if err := c.Do(ctx, http.MethodGet, path, nil, &full); err != nil {
		return Task{}, nil, err
	}
	if u.Status != "" {
		full["status"] = u.Status
	}
	if u.Progress != nil {
		full["progress"] = *u.Progress
	}
	if u.Details != nil {
		full["details"] = *u.Details
	}
	var raw json.RawMessage
	if err := c.Do(ctx, http.MethodPut, path, full, &raw); err != nil {
		return Task{}, nil, err
	}
	var out Task
	err := json.Unmarshal(raw, &out)
	return out, raw, err
}
