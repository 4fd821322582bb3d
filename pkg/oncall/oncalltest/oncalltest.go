// Package oncalltest serves the real on-call API on loopback for other
// packages' tests, so that the client and the command line are tested
// against the server they will meet, not a stand-in that agrees with them.
//
// Start wires what `reinstate serve` wires: oncall.New, bound as the OnCall
// function on the custom-handler server, over a SQLite store,
// Reinstate's recovery executor against graphsim (simtest), the real
// guards and a rule table, apiauth's Verifier over an idpsim issuer served
// on its own loopback listener, and a restore worker draining the outbox.
// Options let a test bring its own graphsim and issuer, and the Backup &
// Recovery cases, for the preview routes' on-behalf-of path. Only tests
// import this package.
package oncalltest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/reinstate/reinstate/functions"
	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/idpsim"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

// Audience is the API's App ID URI in the tokens Token mints and the
// verifier accepts.
const Audience = "api://reinstate-test"

// API is the on-call API on loopback. Everything closes when the test
// ends.
type API struct {
	// URL is the base URL a Client is given (the API is under
	// oncall.BasePath there): the custom-handler server, with the API bound
	// as the OnCall function exactly as `serve` binds it.
	URL    string
	Server *oncall.Server
	Store  *sqlite.Store
	Tenant *simtest.Tenant
	Issuer *idpsim.Issuer
	// IssuerURL is the idpsim listener, the verifier's authority.
	IssuerURL string
	TenantID  string
	Table     *rules.Table
	Guards    *guard.Guards
	Executor  *recovery.Executor
	// Worker carries out restore intents: in the background unless
	// Options.Manual, when the test drains it.
	Worker *recovery.Worker
	// Wakes counts the API's calls to wake the worker.
	Wakes *atomic.Int64
}

// Options change what Start wires.
type Options struct {
	// Manual leaves the worker stopped, for tests that drain it themselves.
	Manual bool
	// Rate and Burst limit each caller; zero takes the API's defaults.
	Rate  rate.Limit
	Burst int
	// Tenant, when set, is the graphsim the API reads instead of one Start
	// starts, for tests that also drive its clock or its Backup & Recovery.
	// With Authority set, it must have been started by
	// simtest.StartWithIssuer.
	Tenant *simtest.Tenant
	// Authority, when set, is where Tenant.Issuer serves (an
	// httptest.NewTLSServer of its Handler, named by SetBaseURL), and
	// AuthorityClient trusts that server. The API then verifies tokens of
	// that issuer, and Token mints them, instead of a separate issuer's: the
	// token a caller presents must be one the issuer exchanges on-behalf-of
	// for Graph tokens graphsim accepts, and MSAL talks https only.
	Authority       string
	AuthorityClient *http.Client
	// Previews, when set, builds the Backup & Recovery cases the API
	// serves, from the API's store and tenant (so that the orchestrator's
	// journal is the API's); nil leaves the preview routes answering 503.
	Previews func(*API) oncall.Previews
	// Logger receives the API's log; nil discards. Tests read it to prove
	// what never appears there.
	Logger *slog.Logger
}

// Start serves the API over graphsim seeded from seedPath, judging with the
// rule file at rulesPath, with a worker running.
func Start(t testing.TB, seedPath, rulesPath string) *API {
	t.Helper()
	return StartWith(t, seedPath, rulesPath, Options{})
}

// StartWith is Start with opts.
func StartWith(t testing.TB, seedPath, rulesPath string, opts Options) *API {
	t.Helper()
	ctx := context.Background()
	seed, err := graphsim.LoadSeed(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	tenant := opts.Tenant
	if tenant == nil {
		tenant = simtest.Start(t, seedPath)
	}
	executor := simtest.Executor(t, tenant.URL, "reinstate-token")

	st, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	table, err := rules.Load(rulesPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}

	issuer, authority := tenant.Issuer, opts.Authority
	if authority == "" {
		if issuer, err = idpsim.New(seed.TenantID); err != nil {
			t.Fatal(err)
		}
		idp := httptest.NewServer(issuer.Handler())
		t.Cleanup(idp.Close)
		authority = idp.URL
	} else if issuer == nil {
		t.Fatal("oncalltest: Authority needs a Tenant started by simtest.StartWithIssuer")
	}
	verifier, err := apiauth.New(apiauth.Config{TenantID: seed.TenantID, Audiences: []string{Audience}, Authority: authority,
		HTTPClient: opts.AuthorityClient})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(verifier.Close)

	worker := recovery.NewWorker(st, executor, recovery.WorkerOptions{MaxBackoff: 100 * time.Millisecond})
	if !opts.Manual {
		workerCtx, stop := context.WithCancel(ctx)
		var running sync.WaitGroup
		running.Go(func() { _ = worker.Run(workerCtx, 50*time.Millisecond) })
		// Cleanups run last-in first-out: the worker stops before the store
		// closes.
		t.Cleanup(func() { stop(); running.Wait() })
	}

	a := &API{Store: st, Tenant: tenant, Issuer: issuer, IssuerURL: authority, TenantID: seed.TenantID, Table: table,
		Guards: guard.New(st, guard.Config{TenantID: seed.TenantID, Rules: table.Guards}), Executor: executor, Worker: worker,
		Wakes: new(atomic.Int64)}
	var previews oncall.Previews
	if opts.Previews != nil {
		previews = opts.Previews(a)
	}
	a.Server, err = oncall.New(oncall.Options{
		Auth: verifier, Store: st, Bin: executor, Rules: table, TenantID: seed.TenantID, Guards: a.Guards,
		Wake: func() { a.Wakes.Add(1); worker.Notify() },
		Rate: opts.Rate, Burst: opts.Burst, Version: "test", Previews: previews, Logger: opts.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	front := customhandler.NewServer(customhandler.Options{Logger: slog.New(slog.DiscardHandler)})
	functions.RegisterOnCall(front, a.Server)
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// Token mints an access token for a user named name holding roles, as
// Entra would for the API.
func (a *API) Token(t testing.TB, name string, roles ...string) string {
	t.Helper()
	tok, err := a.Issuer.Token(idpsim.TokenRequest{BaseURL: a.IssuerURL, Audience: Audience, Roles: roles, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
