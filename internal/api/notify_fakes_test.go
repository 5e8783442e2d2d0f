package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// testClock is a settable clock for api.Config.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// recNotifier is an api.Notifier that records what it stores. While fail is set it
// stores nothing and returns fail, as a notification log that is down would.
type recNotifier struct {
	mu    sync.Mutex
	notes []notify.Notification
	fail  error
}

func (n *recNotifier) Notify(ctx context.Context, x notify.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail != nil {
		return n.fail
	}
	n.notes = append(n.notes, x)
	return nil
}

func (n *recNotifier) setFail(err error) {
	n.mu.Lock()
	n.fail = err
	n.mu.Unlock()
}

// since returns the notifications stored after the first mark of them.
func (n *recNotifier) since(mark int) []notify.Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.notes[mark:])
}

// mark returns how many notifications are stored so far.
func (n *recNotifier) mark() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.notes)
}

// distinctIDs returns the set of stored notification ids, as the de-duplicating log
// would keep them.
func (n *recNotifier) distinctIDs() map[string]bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ids := map[string]bool{}
	for _, x := range n.notes {
		ids[x.ID] = true
	}
	return ids
}

// note is a decoded notification envelope.
type note struct {
	notify.Notification
	headers map[string]string
	payload map[string]any
	raw     string // the payload text
}

func decodeNote(tb testing.TB, n notify.Notification) note {
	tb.Helper()
	var env struct {
		Type    string            `json:"type"`
		Headers map[string]string `json:"headers"`
		Payload string            `json:"payload"`
	}
	if err := json.Unmarshal(n.Envelope, &env); err != nil {
		tb.Fatalf("decode envelope %s: %v", n.Envelope, err)
	}
	x := note{Notification: n, headers: env.Headers, raw: env.Payload}
	if err := json.Unmarshal([]byte(env.Payload), &x.payload); err != nil {
		tb.Fatalf("decode payload %s: %v", env.Payload, err)
	}
	return x
}

// fakeTasks is an in-memory api.TaskStore honouring its contract.
type fakeTasks struct {
	mu    sync.Mutex
	now   func() time.Time
	tasks map[string]api.TaskRecord
}

func newFakeTasks(now func() time.Time) *fakeTasks {
	return &fakeTasks{now: now, tasks: map[string]api.TaskRecord{}}
}

func cloneRec(r api.TaskRecord) api.TaskRecord {
	r.Data = bytes.Clone(r.Data)
	return r
}

func (f *fakeTasks) CreateTask(ctx context.Context, r api.TaskRecord) (api.TaskRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tasks[r.ID]; ok {
		return api.TaskRecord{}, vcd.Errorf(vcd.CodeDuplicate, "duplicate task")
	}
	f.tasks[r.ID] = cloneRec(r)
	return cloneRec(r), nil
}

func (f *fakeTasks) Task(ctx context.Context, id string) (api.TaskRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.tasks[id]
	if !ok {
		return api.TaskRecord{}, notFound("task")
	}
	return cloneRec(r), nil
}

func (f *fakeTasks) UpdateTask(ctx context.Context, id string, fn func(*api.TaskRecord) error) (api.TaskRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.tasks[id]
	if !ok {
		return api.TaskRecord{}, notFound("task")
	}
	next := cloneRec(r)
	if err := fn(&next); err != nil {
		return api.TaskRecord{}, err
	}
	if next.ID != r.ID || next.OrgID != r.OrgID {
		return api.TaskRecord{}, fmt.Errorf("fakeTasks: immutable field changed")
	}
	f.tasks[id] = cloneRec(next)
	return next, nil
}

func (f *fakeTasks) DeleteTask(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tasks[id]; !ok {
		return notFound("task")
	}
	delete(f.tasks, id)
	return nil
}

func (f *fakeTasks) Tasks(ctx context.Context, orgID string) ([]api.TaskRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	var out []api.TaskRecord
	for _, r := range f.tasks {
		if (orgID == "" || r.OrgID == orgID) && (r.Expires.IsZero() || now.Before(r.Expires)) {
			out = append(out, cloneRec(r))
		}
	}
	slices.SortFunc(out, func(a, b api.TaskRecord) int {
		return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(b.ID, a.ID))
	})
	return out, nil
}

func (f *fakeTasks) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tasks)
}

// lockPassword is the password with which a login of an existing user fails and locks
// the user out (auth.ErrLockedNow), in loginErrorAuth.
const lockPassword = "lock-me-now"

// loginErrorAuth is fakeAuth whose failed logins of existing users carry an
// *auth.LoginError, as the real authenticator's do.
type loginErrorAuth struct{ *fakeAuth }

func (f loginErrorAuth) loginError(name, password string, err error) error {
	un, on, ok := vcd.SplitUserOrg(name)
	if !ok {
		return err
	}
	o, oerr := f.st.OrgByName(context.Background(), on)
	if oerr != nil {
		return err
	}
	u, ok := f.st.userByName(o.ID, un)
	if !ok {
		return err
	}
	cause := auth.ErrBadCredentials
	if password == lockPassword {
		cause = fmt.Errorf("%w: %w", auth.ErrBadCredentials, auth.ErrLockedNow)
	}
	return vcd.Wrap(vcd.CodeUnauthorized, &auth.LoginError{UserID: u.ID, OrgID: o.ID, Cause: cause}, "Authentication failed.")
}

func (f loginErrorAuth) Login(ctx context.Context, name, password string, provider bool, clientIP string) (auth.LoginResult, error) {
	res, err := f.fakeAuth.Login(ctx, name, password, provider, clientIP)
	if err != nil {
		return res, f.loginError(name, password, err)
	}
	return res, nil
}

func (f loginErrorAuth) LegacyLogin(ctx context.Context, name, password, clientIP string) (auth.LoginResult, error) {
	res, err := f.fakeAuth.LegacyLogin(ctx, name, password, clientIP)
	if err != nil {
		return res, f.loginError(name, password, err)
	}
	return res, nil
}

// notifyEnv is a testEnv with a recording Notifier, a fake TaskStore and a settable
// clock, serving under https://vcd.example.com as VCD-COMPAT §8.4's example does.
type notifyEnv struct {
	*testEnv
	notes *recNotifier
	tasks *fakeTasks
	clock *testClock
}

// taskStart is the startTime of VCD-COMPAT §8.4's example.
var taskStart = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

// mustServeNotify starts an API like mustServe, with the clock at taskStart.
func mustServeNotify(tb testing.TB, opts ...func(*api.Config)) *notifyEnv {
	tb.Helper()
	env := &testEnv{now: taskStart}
	env.store = newFakeStore(vcd.Site{ID: siteID, Name: "herald"})
	ne := &notifyEnv{testEnv: env, notes: &recNotifier{}, clock: &testClock{t: taskStart}}
	ne.tasks = newFakeTasks(ne.clock.Now)
	env.auth = newFakeAuth(env.store, ne.clock.Now)
	seed(env.store, taskStart)
	cfg := api.Config{PublicURL: "https://vcd.example.com", HashPassword: fakeHash, Now: ne.clock.Now,
		Notifier: ne.notes, Tasks: ne.tasks}
	for _, o := range opts {
		o(&cfg)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("HERALD_TEST_LOG") == "debug" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	env.srv = httptest.NewServer(api.New(cfg, env.store, loginErrorAuth{env.auth}, logger).Handler())
	tb.Cleanup(env.srv.Close)
	return ne
}
