package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/oncall/oncalltest"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

const (
	apiSeed  = "../../testdata/graphsim/seed.json"
	apiRules = "../../testdata/rules/oncall.yaml"
	// In the sample tenant's recycle bin from the start: Team Orion (a
	// Microsoft 365 group), Lee Gu (a user whose proxy address Isaiah Langer
	// now holds) and a contractor whose UPN Megan Bowen now holds.
	apiOrion      = "a9c1e3f5-0b2d-4c4e-8a8b-9d1f3b5d7e09"
	apiLeeGu      = "f8b0d2e4-9a1c-4b3d-9f7a-8c0e2a4c6d98"
	apiContractor = "e7a9c1d3-8f0b-4a2c-8e6f-7b9d1f3b5c87"
	apiAdele      = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21" // live
)

// apiVars are the variables of an on-call engineer in local mode: the
// API's loopback URL and a token, and a store of its own that no command
// going through the API may touch.
func apiVars(t *testing.T, api *oncalltest.API, token string) map[string]string {
	t.Helper()
	return map[string]string{
		envAPIURL: api.URL, envAPIToken: token,
		"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "local.db"), "USER": "local-operator",
	}
}

// noSecret fails the test if the token shows in what a command printed.
func noSecret(t *testing.T, r result, token string) {
	t.Helper()
	if strings.Contains(r.stdout, token) || strings.Contains(r.stderr, token) {
		t.Errorf("the token was printed")
	}
}

func fastPolls(t *testing.T) {
	old := restorePollInterval
	restorePollInterval = 20 * time.Millisecond
	t.Cleanup(func() { restorePollInterval = old })
}

// TestRestoreThroughTheAPI: restore reaches a 202 with a printed
// idempotency key, a retry with that key answers the same restore, and
// status follows it to the end, over the real API, store, guards,
// graphsim and token verifier.
func TestRestoreThroughTheAPI(t *testing.T) {
	api := oncalltest.Start(t, apiSeed, apiRules)
	token := api.Token(t, "alice@contoso.com", apiauth.RoleRead, apiauth.RoleOperate)
	vars := apiVars(t, api, token)

	r := invoke(t, vars, "", "restore", apiOrion, "--reason", "deleted by mistake, INC-42", "-o", "json")
	noSecret(t, r, token)
	if r.code != 0 {
		t.Fatalf("restore: exit %d: %s", r.code, r.stderr)
	}
	var first oncall.RestoreStatus
	if err := json.Unmarshal([]byte(r.stdout), &first); err != nil {
		t.Fatalf("restore -o json printed %q: %v", r.stdout, err)
	}
	if first.ObjectID != apiOrion || first.ObjectType != "group" || !strings.Contains(first.Actor, "alice@contoso.com") {
		t.Errorf("restore answered %+v", first)
	}
	_, key, ok := strings.Cut(r.stderr, "--idempotency-key ")
	key = strings.TrimSuffix(strings.TrimSpace(key), ")")
	if !ok || key == "" {
		t.Fatalf("no idempotency key printed: %q", r.stderr)
	}

	retry := invoke(t, vars, "", "restore", apiOrion, "--reason", "deleted by mistake, INC-42", "--idempotency-key", key)
	if retry.code != 0 || !strings.Contains(retry.stdout, first.ID) {
		t.Errorf("a retry with the printed key: exit %d, stdout %q; want restore %s again", retry.code, retry.stdout, first.ID)
	}

	deadline := time.Now().Add(15 * time.Second)
	for {
		s := invoke(t, vars, "", "status", first.ID)
		noSecret(t, s, token)
		if s.code != 0 {
			t.Fatalf("status: exit %d: %s", s.code, s.stderr)
		}
		if strings.Contains(s.stdout, "restored (verified live)") {
			if !strings.Contains(s.stdout, "Team Orion") || !strings.Contains(s.stdout, "on-call: deleted by mistake") {
				t.Errorf("status table:\n%s", s.stdout)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restore did not finish:\n%s", s.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !api.Tenant.Live(t, "admin-token", "groups", apiOrion) {
		t.Error("Team Orion is not live after the restore")
	}
	// The API's journal has the request and the queueing with the caller,
	// once: the retry queued nothing.
	entries, err := api.Store.Journal(t.Context(), store.JournalQuery{TargetID: apiOrion})
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	for _, e := range entries {
		if e.Kind == oncall.KindRestoreQueued && strings.Contains(e.Actor, "alice@contoso.com") {
			queued++
		}
	}
	if queued != 1 {
		t.Errorf("%d restores queued; want 1", queued)
	}

	// The recycle bin no longer lists it; it still lists Lee Gu.
	d := invoke(t, vars, "", "deleted", "--type", "user", "--since", "87600h")
	if d.code != 0 || !strings.Contains(d.stdout, apiLeeGu) || !strings.Contains(d.stdout, "lee.gu@contoso.com") {
		t.Errorf("deleted --type user: exit %d:\n%s%s", d.code, d.stdout, d.stderr)
	}
}

// TestRestoreWaitFollowsToTheEnd: --wait exits 0 once the object is back,
// with the options passed through, and 1 when the restore ends otherwise.
func TestRestoreWaitFollowsToTheEnd(t *testing.T) {
	fastPolls(t)
	api := oncalltest.Start(t, apiSeed, apiRules)
	token := api.Token(t, "alice@contoso.com", apiauth.RoleRead, apiauth.RoleOperate)
	vars := apiVars(t, api, token)

	r := invoke(t, vars, "", "restore", apiLeeGu, "--reason", "leaver reversed", "--type", "user", "--reconcile-proxy-addresses", "--wait", "--timeout", "20s")
	noSecret(t, r, token)
	if r.code != 0 || !strings.Contains(r.stdout, "restored (verified live)") {
		t.Errorf("restore --wait with --reconcile-proxy-addresses: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = invoke(t, vars, "", "restore", apiContractor, "--reason", "contract extended", "--wait", "--timeout", "20s")
	if r.code != 1 || !strings.Contains(r.stderr, "ended conflict") {
		t.Errorf("restore --wait of a UPN conflict: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestAPIProblemsAreClearErrors: a refusal exits 1 with the status, the
// field and the API's reason, plus what to do where a person can act.
func TestAPIProblemsAreClearErrors(t *testing.T) {
	api := oncalltest.Start(t, apiSeed, apiRules)
	operator := api.Token(t, "alice@contoso.com", apiauth.RoleRead, apiauth.RoleOperate)
	reader := api.Token(t, "bob@contoso.com", apiauth.RoleRead)
	for _, tt := range []struct {
		name  string
		token string
		args  []string
		says  []string
	}{
		{"live object", operator, []string{"restore", apiAdele, "--reason", "test"},
			[]string{"reinstate: restore " + apiAdele + ": ", "HTTP 404 Not Found: objectId: the object is not in the recycle bin"}},
		{"wrong type", operator, []string{"restore", apiOrion, "--reason", "test", "--type", "user"},
			[]string{"HTTP 422 Unprocessable Entity: objectType: the recycle bin holds this object as a group, not a user"}},
		{"reader restores", reader, []string{"restore", apiOrion, "--reason", "test"},
			[]string{"HTTP 403 Forbidden", "Recovery.Operate"}},
		{"forged token", operator + "x", []string{"status", "0000018f2a3b4c5d-a1b2c3d4e5f6"},
			[]string{"HTTP 401 Unauthorized", "sign in again"}},
		{"unknown restore", operator, []string{"status", "0000018f2a3b4c5d-a1b2c3d4e5f6"}, []string{"HTTP 404 Not Found"}},
		{"bad silence", operator, []string{"silence", "add", "--api", "--for", "720h", "--rule", "lab-groups", "--reason", "too long"},
			[]string{"HTTP 400 Bad Request: endsAt: a silence may last at most 168h0m0s"}},
		{"unknown bin", operator, []string{"deleted", "--type", "device"}, []string{"HTTP 400 Bad Request: type: is required: one of user"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, apiVars(t, api, tt.token), "", tt.args...)
			noSecret(t, r, tt.token)
			if r.code != 1 {
				t.Errorf("exit %d, want 1; stderr %q", r.code, r.stderr)
			}
			for _, s := range tt.says {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q does not say %q", r.stderr, s)
				}
			}
		})
	}
}

// TestAPITokenIsForLoopbackOnly: REINSTATE_API_TOKEN is refused, before
// any request, for an API that is not on loopback; so is plain http off
// loopback, and a missing REINSTATE_API_URL or scope is named.
func TestAPITokenIsForLoopbackOnly(t *testing.T) {
	const token = "eyJhbGciOi.a-real-token-pasted-here.sig"
	for _, tt := range []struct {
		name string
		vars map[string]string
		says string
	}{
		{"token off loopback", map[string]string{envAPIURL: "https://func-reinstate.azurewebsites.net", envAPIToken: token},
			"REINSTATE_API_TOKEN is honoured only when REINSTATE_API_URL is on loopback"},
		{"token on a private address", map[string]string{envAPIURL: "https://10.1.2.3:7071", envAPIToken: token},
			"REINSTATE_API_TOKEN is honoured only when REINSTATE_API_URL is on loopback"},
		{"plain http off loopback", map[string]string{envAPIURL: "http://func-reinstate.azurewebsites.net", envAPIToken: token},
			"must be https (http only on loopback)"},
		{"no URL", map[string]string{envAPIToken: token}, "REINSTATE_API_URL is not set"},
		{"no scope", map[string]string{envAPIURL: "https://func-reinstate.azurewebsites.net"}, "REINSTATE_API_SCOPE is not set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, args := range [][]string{
				{"restore", apiOrion, "--reason", "test"}, {"status", "0000018f2a3b4c5d-a1b2c3d4e5f6"}, {"deleted", "--type", "group"},
				{"silence", "list", "--api"}, {"breaker", "reset", "total", "--api", "--reason", "test"},
			} {
				r := invoke(t, tt.vars, "", args...)
				noSecret(t, r, token)
				if r.code != 1 || !strings.Contains(r.stderr, tt.says) {
					t.Errorf("%v: exit %d, stderr %q; want 1 saying %q", args, r.code, r.stderr, tt.says)
				}
			}
		})
	}
}

// TestSilencesThroughTheAPI: silence add, list and end act through the API
// with --api, and by default when REINSTATE_API_URL is set, as the
// signed-in caller; --local still acts on REINSTATE_STORE. So does breaker
// reset.
func TestSilencesThroughTheAPI(t *testing.T) {
	api := oncalltest.Start(t, apiSeed, apiRules)
	token := api.Token(t, "alice@contoso.com", apiauth.RoleRead, apiauth.RoleOperate)
	vars := apiVars(t, api, token)

	r := invoke(t, vars, "", "silence", "add", "--api", "--for", "1h", "--rule", "lab-groups", "--reason", "printer migration")
	noSecret(t, r, token)
	if r.code != 0 {
		t.Fatalf("silence add --api: exit %d: %s", r.code, r.stderr)
	}
	id := strings.Fields(r.stdout)[0]
	// Without --api: REINSTATE_API_URL is set, so the API it is.
	if r := invoke(t, vars, "", "silence", "list"); r.code != 0 || !strings.Contains(r.stdout, id) ||
		!strings.Contains(r.stdout, "rule=lab-groups") || !strings.Contains(r.stdout, "alice@contoso.com") {
		t.Fatalf("silence list (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := invoke(t, vars, "", "silence", "list", "--local"); r.code != 0 || strings.Contains(r.stdout, id) {
		t.Errorf("silence list --local lists the API's silence (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := invoke(t, vars, "", "silence", "add", "--api", "--for", "1h", "--rule", "lab-groups", "--reason", "x", "--by", "mallory"); r.code != 1 || !strings.Contains(r.stderr, "--by") {
		t.Errorf("--by through the API: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := invoke(t, vars, "", "silence", "end", "--api", id); r.code != 0 {
		t.Fatalf("silence end --api: exit %d: %s", r.code, r.stderr)
	}
	if r := invoke(t, vars, "", "silence", "list", "--api", "-o", "json"); r.code != 0 || strings.Contains(r.stdout, id) {
		t.Errorf("an ended silence is still listed as active (exit %d):\n%s", r.code, r.stdout)
	}
	if r := invoke(t, vars, "", "silence", "list", "--api", "--all", "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, id) {
		t.Errorf("silence list --all does not list the ended silence (exit %d):\n%s", r.code, r.stdout)
	}
	if r := invoke(t, vars, "", "breaker", "reset", "total", "--api"); r.code != 1 || !strings.Contains(r.stderr, "--reason") {
		t.Errorf("breaker reset --api without a reason: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := invoke(t, vars, "", "breaker", "reset", "total", "--api", "--reason", "storm over"); r.code != 0 {
		t.Errorf("breaker reset --api: exit %d: %s", r.code, r.stderr)
	}
	if r := invoke(t, vars, "", "silence", "list", "--api", "--local"); r.code != 1 || !strings.Contains(r.stderr, "choose one") {
		t.Errorf("--api --local: exit %d, stderr %q", r.code, r.stderr)
	}

	// The API journaled each change with the caller; the local store saw
	// none of them.
	entries, err := api.Store.Journal(t.Context(), store.JournalQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []store.Kind{oncall.KindSilenceAdded, oncall.KindSilenceEnded, oncall.KindBreakerReset} {
		if !slices.ContainsFunc(entries, func(e store.Entry) bool { return e.Kind == kind && strings.Contains(e.Actor, "alice@contoso.com") }) {
			t.Errorf("the API's journal has no %s by the caller", kind)
		}
	}
	local, err := sqlite.Open(t.Context(), strings.TrimPrefix(vars["REINSTATE_STORE"], "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if silences, err := local.Silences(t.Context(), store.SilenceQuery{Limit: 10}); err != nil || len(silences) != 0 {
		t.Errorf("the local store holds silences %v (%v)", silences, err)
	}
}

// TestAPICommandsNeedNoServiceConfiguration: the commands that go through
// the API run on a machine whose service configuration is absent or
// broken, since they never load it; the local ones still refuse it.
func TestAPICommandsNeedNoServiceConfiguration(t *testing.T) {
	api := oncalltest.Start(t, apiSeed, apiRules)
	token := api.Token(t, "alice@contoso.com", apiauth.RoleRead, apiauth.RoleOperate)
	vars := map[string]string{envAPIURL: api.URL, envAPIToken: token, "REINSTATE_STORE": "mysql:x", "REINSTATE_MODE": "bogus"}
	for _, args := range [][]string{
		{"deleted", "--type", "group"}, {"silence", "list"}, {"silence", "list", "--api"}, {"breaker", "reset", "total", "--reason", "test"},
		{"restore", "--help"}, {"status", "--help"}, {"deleted", "--help"},
	} {
		if r := invoke(t, vars, "", args...); r.code != 0 {
			t.Errorf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	if r := invoke(t, vars, "", "silence", "list", "--local"); r.code != 1 || !strings.Contains(r.stderr, "REINSTATE_STORE") {
		t.Errorf("silence list --local with a bad REINSTATE_STORE: exit %d, stderr %q", r.code, r.stderr)
	}
}
