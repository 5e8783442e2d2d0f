package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Plan is what a run talks to: the orgs, users and their tokens (herald), or the same
// shape with made-up ids (mosquitto, which needs no credentials).
type Plan struct {
	Orgs     []PlanOrg
	SysToken string // the system administrator's JWT; empty for mosquitto
	// Producer is the MQTT service account (form C); empty for mosquitto.
	ProducerName, ProducerSecret string
}

// PlanOrg is one org of a Plan.
type PlanOrg struct {
	Name, ID   string // ID is the bare UUID
	AdminToken string
	Users      []PlanUser
}

// PlanUser is one user of a Plan.
type PlanUser struct {
	Name, ID string
	Token    string
}

// Topic returns the user's notification topic, publish/{org}/{user} (VCD-COMPAT §7.1).
func (p *Plan) Topic(o, u int) string { return "publish/" + p.Orgs[o].ID + "/" + p.Orgs[o].Users[u].ID }

// syntheticPlan returns a plan with random UUIDs and no credentials, for a broker
// without herald's API.
func syntheticPlan(orgs, users int) *Plan {
	p := &Plan{}
	for i := range orgs {
		o := PlanOrg{Name: "bench-org-" + itoa(i), ID: newUUID()}
		for j := range users {
			o.Users = append(o.Users, PlanUser{Name: "bench-user-" + itoa(j), ID: newUUID()})
		}
		p.Orgs = append(p.Orgs, o)
	}
	return p
}

// newUUID returns a random version 4 UUID, lowercase.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// api is a small client of herald's REST API, spreading requests over the source
// addresses (herald limits logins per client address).
type api struct {
	base    string
	clients []*http.Client
	next    atomic.Uint64
	token   string // the admin's JWT once logged in
	warned  atomic.Bool
	stderr  io.Writer
}

// Provisioning names and defaults.
const (
	accept       = "application/json;version=39.0"
	producerName = "bench-producer"
	orgAdminName = "bench-admin"
)

func (a *api) client() *http.Client { return a.clients[int(a.next.Add(1))%len(a.clients)] }

// do sends one request and decodes a JSON answer into out (when not nil). It
// retries, a bounded number of times, on 429 (rate limit) after Retry-After.
func (a *api) do(ctx context.Context, method, path string, body []byte, ctype, token string, basic [2]string, want int, out any) (http.Header, error) {
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		req.Header.Set("Accept", accept)
		if body != nil {
			req.Header.Set("Content-Type", ctype)
		}
		switch {
		case basic[0] != "":
			req.SetBasicAuth(basic[0], basic[1])
		case token != "":
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := a.client().Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 20 {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			if !a.warned.Swap(true) {
				fmt.Fprintf(a.stderr, "herald-bench: rate limited (429) on %s; waiting and retrying. Spread clients with -src or raise http.loginRatePerMinute / mqtt.connectsPerSecondPerIP in herald's config.\n", path)
			}
			select {
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if resp.StatusCode != want {
			return nil, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, truncate(b, 200))
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return nil, fmt.Errorf("%s %s: decode: %w", method, path, err)
			}
		}
		return resp.Header, nil
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// login logs name ("user@org") in and returns the JWT.
func (a *api) login(ctx context.Context, name, password string) (string, error) {
	path := "/cloudapi/1.0.0/sessions"
	if strings.HasSuffix(strings.ToLower(name), "@system") {
		path += "/provider"
	}
	h, err := a.do(ctx, http.MethodPost, path, nil, "", "", [2]string{name, password}, http.StatusOK, nil)
	if err != nil {
		return "", fmt.Errorf("login %s: %w", name, err)
	}
	tok := h.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
	if tok == "" {
		return "", fmt.Errorf("login %s: no access token header", name)
	}
	return tok, nil
}

// page is one page of an OpenAPI list (VCD-COMPAT §5.4).
type page[T any] struct {
	PageCount int `json:"pageCount"`
	Values    []T `json:"values"`
}

// listAll reads every page of a list endpoint.
func listAll[T any](ctx context.Context, a *api, path string) ([]T, error) {
	var all []T
	for n := 1; ; n++ {
		var pg page[T]
		if _, err := a.do(ctx, http.MethodGet, fmt.Sprintf("%s?page=%d&pageSize=128", path, n), nil, "", a.token, [2]string{}, http.StatusOK, &pg); err != nil {
			return nil, err
		}
		all = append(all, pg.Values...)
		if n >= pg.PageCount {
			return all, nil
		}
	}
}

type apiRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type apiUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Org      apiRef `json:"orgEntityRef"`
}

// bareID returns the UUID of a URN (urn:vcloud:org:<uuid>).
func bareID(urn string) string { return urn[strings.LastIndexByte(urn, ':')+1:] }

// provision creates (or reuses) orgs bench-org-0…, each with users bench-user-0… and
// an org administrator bench-admin, logs every one of them in, and creates (or
// rotates the secret of) the producer service account. It runs up to workers
// requests at a time.
func (a *api) provision(ctx context.Context, admin, adminPassword, userPassword string, orgs, users, workers int) (*Plan, error) {
	tok, err := a.login(ctx, admin, adminPassword)
	if err != nil {
		return nil, err
	}
	a.token = tok
	plan := &Plan{SysToken: tok}

	existingOrgs, err := listAll[apiRef](ctx, a, "/cloudapi/1.0.0/orgs")
	if err != nil {
		return nil, err
	}
	orgIDs := map[string]string{}
	for _, o := range existingOrgs {
		orgIDs[o.Name] = bareID(o.ID)
	}
	for i := range orgs {
		name := "bench-org-" + itoa(i)
		if orgIDs[name] == "" {
			var o apiRef
			body, _ := json.Marshal(map[string]string{"name": name, "displayName": name})
			if _, err := a.do(ctx, http.MethodPost, "/cloudapi/1.0.0/orgs", body, "application/json", a.token, [2]string{}, http.StatusCreated, &o); err != nil {
				return nil, fmt.Errorf("create org: %w", err)
			}
			orgIDs[name] = bareID(o.ID)
		}
		plan.Orgs = append(plan.Orgs, PlanOrg{Name: name, ID: orgIDs[name]})
	}

	existingUsers, err := listAll[apiUser](ctx, a, "/cloudapi/1.0.0/users")
	if err != nil {
		return nil, err
	}
	userIDs := map[string]string{} // user@orgUUID → UUID
	for _, u := range existingUsers {
		userIDs[u.Username+"@"+bareID(u.Org.ID)] = bareID(u.ID)
	}
	// jobs: create if missing, then log in; index -1 is the org admin.
	type job struct{ org, user int }
	var jobs []job
	for i := range plan.Orgs {
		plan.Orgs[i].Users = make([]PlanUser, users)
		jobs = append(jobs, job{i, -1})
		for j := range users {
			jobs = append(jobs, job{i, j})
		}
	}
	var mu sync.Mutex
	err = parallel(ctx, workers, len(jobs), func(ctx context.Context, k int) error {
		jb := jobs[k]
		o := &plan.Orgs[jb.org]
		name, role := orgAdminName, "Organization Administrator"
		if jb.user >= 0 {
			name, role = "bench-user-"+itoa(jb.user), "vApp User"
		}
		mu.Lock()
		id := userIDs[name+"@"+o.ID]
		mu.Unlock()
		if id == "" {
			body, _ := json.Marshal(map[string]any{"username": name, "password": userPassword,
				"roleEntityRefs": []map[string]string{{"name": role}},
				"orgEntityRef":   map[string]string{"id": "urn:vcloud:org:" + o.ID}})
			var u apiUser
			if _, err := a.do(ctx, http.MethodPost, "/cloudapi/1.0.0/users", body, "application/json", a.token, [2]string{}, http.StatusCreated, &u); err != nil {
				return fmt.Errorf("create user %s@%s: %w", name, o.Name, err)
			}
			id = bareID(u.ID)
		}
		tok, err := a.login(ctx, name+"@"+o.Name, userPassword)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if jb.user < 0 {
			o.AdminToken = tok
		} else {
			o.Users[jb.user] = PlanUser{Name: name, ID: id, Token: tok}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if plan.ProducerSecret, err = a.producerAccount(ctx); err != nil {
		return nil, err
	}
	plan.ProducerName = producerName
	return plan, nil
}

// producerAccount creates the producer service account, or rotates the secret of an
// existing one (the secret is shown only once), and returns the secret.
func (a *api) producerAccount(ctx context.Context) (string, error) {
	accounts, err := listAll[apiRef](ctx, a, "/cloudapi/herald/1.0.0/serviceAccounts")
	if err != nil {
		return "", err
	}
	var out struct {
		Secret string `json:"secret"`
	}
	for _, s := range accounts {
		if s.Name == producerName {
			_, err := a.do(ctx, http.MethodPost, "/cloudapi/herald/1.0.0/serviceAccounts/"+s.ID+"/secret", nil, "", a.token, [2]string{}, http.StatusOK, &out)
			if err != nil {
				return "", fmt.Errorf("rotate producer secret: %w", err)
			}
			return out.Secret, nil
		}
	}
	body := []byte(`{"name":"` + producerName + `","enabled":true,"producer":true,"subscribe":[],"publish":["publish/#"]}`)
	if _, err := a.do(ctx, http.MethodPost, "/cloudapi/herald/1.0.0/serviceAccounts", body, "application/json", a.token, [2]string{}, http.StatusCreated, &out); err != nil {
		return "", fmt.Errorf("create producer service account: %w", err)
	}
	return out.Secret, nil
}

// parallel runs fn(0…n-1) on up to workers goroutines, which it waits for; the
// first error cancels the rest and is returned.
func parallel(ctx context.Context, workers, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(workers, 1), max(n, 1)) {
		wg.Add(1)
		// Each worker exits when the jobs run out or ctx is cancelled.
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return ctx.Err()
}
