package oncall_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/oncall/oncalltest"
	"github.com/reinstate/reinstate/pkg/store"
)

const (
	clientSeedPath  = "../../testdata/graphsim/seed.json"
	clientRulesPath = "../../testdata/rules/oncall.yaml"
	// clientOrion is a Microsoft 365 group already in the sample tenant's
	// recycle bin.
	clientOrion = "a9c1e3f5-0b2d-4c4e-8a8b-9d1f3b5d7e09"
	// clientAdele is a live user.
	clientAdele = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
)

func clientStaticToken(tok string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return tok, nil }
}

// clientWaitFinal polls a restore until its state is final.
func clientWaitFinal(t *testing.T, c *oncall.Client, id string) oncall.RestoreStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := c.Status(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != "queued" && st.State != "running" && st.State != "retrying" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("restore %s still %s", id, st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClientAgainstTheServer drives every route through the client, against
// the real server, store, guards, graphsim and token verifier.
func TestClientAgainstTheServer(t *testing.T) {
	api := oncalltest.Start(t, clientSeedPath, clientRulesPath)
	c := &oncall.Client{BaseURL: api.URL, Token: clientStaticToken(api.Token(t, "alice@contoso.com", apiauth.RoleRead, apiauth.RoleOperate))}
	ctx := t.Context()

	if h, err := c.Health(ctx); err != nil || h.Status != "ok" {
		t.Fatalf("health: %+v, %v", h, err)
	}
	bin, err := c.Deleted(ctx, "group", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !binListsItem(bin, clientOrion) {
		t.Fatalf("the group bin does not list Team Orion: %+v", bin)
	}

	req := oncall.RestoreRequest{ObjectID: clientOrion, Reason: "deleted by mistake, INC-42"}
	first, err := c.Restore(ctx, req, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if first.ObjectType != "group" || first.StatusURL != oncall.BasePath+"/restores/"+first.ID || !strings.Contains(first.Actor, "alice@contoso.com") {
		t.Errorf("restore answered %+v", first)
	}
	again, err := c.Restore(ctx, req, "key-1")
	if err != nil || again.ID != first.ID {
		t.Errorf("a repeat with the same key: %+v, %v; want restore %s again", again, err, first.ID)
	}
	other := req
	other.Reason = "another reason"
	_, err = c.Restore(ctx, other, "key-1")
	var pe *oncall.ProblemError
	if !errors.As(err, &pe) || pe.Status != http.StatusUnprocessableEntity || pe.Problem.Field != oncall.IdempotencyKeyHeader {
		t.Errorf("another body with the same key: %v; want a 422 naming Idempotency-Key", err)
	}
	if final := clientWaitFinal(t, c, first.ID); final.State != "restored" || !final.Verified || final.Outcome == nil {
		t.Errorf("the restore ended %+v", final)
	}
	if !api.Tenant.Live(t, "admin-token", "groups", clientOrion) {
		t.Error("Team Orion is not live after the restore")
	}

	journal, err := c.Journal(ctx, "1h", clientOrion, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !journalHasKind(journal.Entries, oncall.KindRestoreRequested, "alice@contoso.com") || !journalHasKind(journal.Entries, oncall.KindRestoreQueued, "alice@contoso.com") {
		t.Errorf("the journal lacks the request or the queueing, with the caller: %+v", journal.Entries)
	}

	sil, err := c.AddSilence(ctx, oncall.SilenceRequest{Rule: "lab-groups", Reason: "printer migration", Duration: "2h"})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := c.Silences(ctx, false); err != nil || len(list.Silences) != 1 || list.Silences[0].ID != sil.ID {
		t.Errorf("active silences: %+v, %v", list, err)
	}
	if err := c.EndSilence(ctx, sil.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Silences(ctx, false); err != nil || len(list.Silences) != 0 {
		t.Errorf("active silences after the end: %+v, %v", list, err)
	}
	if list, err := c.Silences(ctx, true); err != nil || len(list.Silences) != 1 {
		t.Errorf("all silences: %+v, %v", list, err)
	}
	if done, err := c.ResetBreaker(ctx, oncall.BreakerResetRequest{Scope: "total", Reason: "storm over"}); err != nil || done.Status != "reset" {
		t.Errorf("breaker reset: %+v, %v", done, err)
	}
}

func binListsItem(list oncall.DeletedList, id string) bool {
	for _, item := range list.Items {
		if item.ID == id {
			return true
		}
	}
	return false
}

func journalHasKind(entries []store.Entry, kind store.Kind, actor string) bool {
	for _, e := range entries {
		if e.Kind == kind && strings.Contains(e.Actor, actor) {
			return true
		}
	}
	return false
}

// TestClientProblems: refusals come back as *ProblemError with the
// status, and their message says what a person needs.
func TestClientProblems(t *testing.T) {
	api := oncalltest.Start(t, clientSeedPath, clientRulesPath)
	operator := api.Token(t, "alice@contoso.com", apiauth.RoleRead, apiauth.RoleOperate)
	reader := api.Token(t, "bob@contoso.com", apiauth.RoleRead)
	for _, tt := range []struct {
		name   string
		token  string
		req    oncall.RestoreRequest
		status int
		says   []string
	}{
		{"live object", operator, oncall.RestoreRequest{ObjectID: clientAdele, Reason: "test"}, http.StatusNotFound,
			[]string{"HTTP 404 Not Found: objectId: the object is not in the recycle bin"}},
		{"no reason", operator, oncall.RestoreRequest{ObjectID: clientOrion}, http.StatusBadRequest, []string{"HTTP 400 Bad Request: reason: is required"}},
		{"wrong type", operator, oncall.RestoreRequest{ObjectID: clientOrion, ObjectType: "user", Reason: "test"}, http.StatusUnprocessableEntity,
			[]string{"HTTP 422 Unprocessable Entity: objectType: the recycle bin holds this object as a group, not a user"}},
		{"reader", reader, oncall.RestoreRequest{ObjectID: clientOrion, Reason: "test"}, http.StatusForbidden, []string{"HTTP 403 Forbidden"}},
		{"forged token", operator + "x", oncall.RestoreRequest{ObjectID: clientOrion, Reason: "test"}, http.StatusUnauthorized, []string{"HTTP 401 Unauthorized"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &oncall.Client{BaseURL: api.URL, Token: clientStaticToken(tt.token)}
			_, err := c.Restore(t.Context(), tt.req, "")
			var pe *oncall.ProblemError
			if !errors.As(err, &pe) || pe.Status != tt.status {
				t.Fatalf("%v; want a %d problem", err, tt.status)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), tt.token) {
				t.Errorf("the error holds the token")
			}
		})
	}
}

// TestClientRefusesCleartext: a token is never sent over http to anything
// but loopback, nor to a base URL that carries a query or credentials; the
// token is not even asked for.
func TestClientRefusesCleartext(t *testing.T) {
	for _, base := range []string{
		"http://func-reinstate.azurewebsites.net", "http://10.0.0.5:7071", "ftp://127.0.0.1",
		"https://func-reinstate.azurewebsites.net?code=secret", "https://user:pass@func-reinstate.azurewebsites.net", "not a url",
	} {
		asked := false
		c := &oncall.Client{BaseURL: base, Token: func(context.Context) (string, error) { asked = true; return "tok", nil }}
		_, err := c.Status(t.Context(), "0000018f2a3b4c5d-a1b2c3d4e5f6")
		if err == nil || asked {
			t.Errorf("%s: %v (token asked for: %v)", base, err, asked)
		}
		if err != nil && (strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "pass")) {
			t.Errorf("%s: the error echoes the URL's secret: %v", base, err)
		}
	}
}

// TestClientKeepsSecretsOutOfErrors: whatever a server (or something in
// the way) answers, errors hold neither the token nor the function key;
// the key is sent, and never carried along a redirect.
func TestClientKeepsSecretsOutOfErrors(t *testing.T) {
	const token, key = "eyJ0eXAi.secret-token-value.sig", "function-key-value"
	var redirected atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
		if r.Header.Get(oncall.FunctionKeyHeader) != "" || r.Header.Get("Authorization") != "" {
			t.Errorf("a redirect carried the credentials")
		}
	}))
	defer elsewhere.Close()
	echo := func(r *http.Request) string {
		return r.Header.Get("Authorization") + " " + r.Header.Get(oncall.FunctionKeyHeader)
	}
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(oncall.FunctionKeyHeader) != key {
			t.Errorf("the function key was not sent")
		}
		switch r.URL.Query().Get("type") {
		case "problem":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Bad Request","status":400,"detail":"you sent ` + echo(r) + `","field":"` + token + `"}`))
		case "text":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("you sent " + echo(r)))
		case "json":
			_, _ = w.Write([]byte(`{"items": "` + echo(r) + `"}`))
		case "redirect":
			http.Redirect(w, r, elsewhere.URL+"/api/recovery/deleted", http.StatusTemporaryRedirect)
		case "huge":
			_, _ = w.Write([]byte(`{"items":[],"more":false,"pad":"` + strings.Repeat("x", oncall.MaxResponseBytes) + `"}`))
		}
	}))
	defer hostile.Close()

	c := &oncall.Client{BaseURL: hostile.URL, Token: clientStaticToken(token), FunctionKey: key}
	for _, answer := range []string{"problem", "text", "json", "redirect", "huge"} {
		_, err := c.Deleted(t.Context(), answer, "", 0)
		if err == nil {
			t.Errorf("%s: no error", answer)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, token) || strings.Contains(msg, key) || strings.Contains(msg, "secret-token") {
			t.Errorf("%s: the error holds a secret: %s", answer, msg)
		}
	}
	if redirected.Load() != 0 {
		t.Errorf("the client followed a redirect")
	}
	// A transport error, and a token source's error, name neither.
	hostile.Close()
	if _, err := c.Deleted(t.Context(), "group", "", 0); err == nil || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), key) {
		t.Errorf("a closed server: %v", err)
	}
	c.Token = func(context.Context) (string, error) { return "", errors.New("az login needed") }
	if _, err := c.Deleted(t.Context(), "group", "", 0); err == nil || !strings.Contains(err.Error(), "az login needed") {
		t.Errorf("a token source's error: %v", err)
	}
}
