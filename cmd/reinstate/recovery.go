package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// newWorker builds the recovery executor over Graph and the worker that
// drains restore intents from st. With the Azure credential it also learns
// Reinstate's own identity from its first token, into self, so that loop
// prevention works even where REINSTATE_SELF_IDS was left empty.
func (e *env) newWorker(ctx context.Context, st store.Store, self *guard.Self, mode rules.Mode, concluded func(context.Context, recovery.Plan, recovery.Outcome)) (*recovery.Worker, *recovery.Executor, error) {
	executor, cred, err := e.newExecutor()
	if err != nil {
		return nil, nil, err
	}
	if cred != nil && mode == rules.ModeEnforce {
		go e.learnSelf(ctx, cred, self)
	}
	return recovery.NewWorker(st, executor, recovery.WorkerOptions{Logger: e.log, Concurrency: e.cfg.Workers, Lease: e.cfg.IntentLease, Concluded: concluded}), executor, nil
}

// newExecutor is the recovery executor over Graph, and for azure auth the
// credential behind it.
func (e *env) newExecutor() (*recovery.Executor, azcore.TokenCredential, error) {
	graph, cred, err := newGraphClient(e.cfg.Graph)
	if err != nil {
		return nil, nil, err
	}
	executor := recovery.NewExecutor(graph, recovery.ExecutorOptions{
		Logger: e.log,
		Pacer:  recovery.NewPacer(e.cfg.WriteQuota, e.cfg.WriteWindow),
	})
	return executor, cred, nil
}

// learnSelf asks the credential for a token and adds the identity in it.
// Only in enforce mode: it is the one call Reinstate makes to the identity
// platform before it has work to do.
func (e *env) learnSelf(ctx context.Context, cred azcore.TokenCredential, self *guard.Self) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	appID, objectID, err := graphapi.TokenIdentity(ctx, cred, e.cfg.Graph.URL)
	if err != nil {
		e.log.Warn("could not learn Reinstate's identity from its token; loop prevention relies on REINSTATE_SELF_IDS", "error", err.Error())
		return
	}
	self.Add(appID, objectID)
	e.log.Info("learned Reinstate's identity from its token", "app_id", appID, "object_id", objectID)
}

// newGraphClient returns the client and, for azure auth, its credential.
func newGraphClient(cfg config.GraphConfig) (*graphapi.Client, azcore.TokenCredential, error) {
	gc := graphapi.Config{BaseURL: cfg.URL, Auth: graphapi.AuthMode(cfg.Auth), Token: cfg.Token}
	if gc.Auth == graphapi.AuthAzure {
		cred, err := azureCredential()
		if err != nil {
			return nil, nil, fmt.Errorf("azure credential: %w", err)
		}
		gc.Credential = cred
	}
	client, err := graphapi.New(gc)
	if err != nil {
		return nil, nil, fmt.Errorf("graph client (%s): %w", cfg, err)
	}
	return client, gc.Credential, nil
}

// azureCredential is the Function app's managed identity in Azure (the host
// sets IDENTITY_ENDPOINT; AZURE_CLIENT_ID picks a user-assigned identity),
// and DefaultAzureCredential elsewhere, such as a developer's az login.
// Neither contacts anything until the first token is needed.
func azureCredential() (azcore.TokenCredential, error) {
	if os.Getenv("IDENTITY_ENDPOINT") != "" {
		return managedIdentity()
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

// managedIdentity is the app's managed identity: the user-assigned one
// AZURE_CLIENT_ID names, which is the one the deployment gives the Graph
// permissions and the API app's federated credential (docs/DEPLOY.md);
// without it, the system-assigned one.
func managedIdentity() (*azidentity.ManagedIdentityCredential, error) {
	var opts azidentity.ManagedIdentityCredentialOptions
	if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
		opts.ID = azidentity.ClientID(id)
	}
	return azidentity.NewManagedIdentityCredential(&opts)
}

// newOrchestrator is the Backup & Recovery orchestrator: Graph as
// Reinstate's own identity, and, when REINSTATE_API_CLIENT_ID is set, as an
// approver through the on-behalf-of exchange (the managed identity as the
// API app's federated credential in Azure; the client secret in local
// mode).
func (e *env) newOrchestrator(st store.Store, live *recovery.Executor, announcer backup.Announcer) (*backup.Orchestrator, error) {
	graph, _, err := newGraphClient(e.cfg.Graph)
	if err != nil {
		return nil, err
	}
	version := backup.Version(e.cfg.API.BackupVersion)
	jobs, err := backup.NewClient(graph, version)
	if err != nil {
		return nil, err
	}
	asCaller, err := e.asApprover(version)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return backup.New(backup.Options{Store: st, Jobs: jobs, AsCaller: asCaller, Announcer: announcer, Live: live,
		TenantID: e.cfg.TenantID, Owner: fmt.Sprintf("%s pid %d", host, os.Getpid()), Logger: e.log})
}

// asApprover builds Backup & Recovery clients that act as the person whose
// token they are given; nil when no API client id is configured.
func (e *env) asApprover(version backup.Version) (func(context.Context, string) (backup.Jobs, error), error) {
	if e.cfg.API.ClientID == "" {
		return nil, nil
	}
	occ := backup.OnBehalfOfConfig{TenantID: e.cfg.TenantID, ClientID: e.cfg.API.ClientID, AuthorityHost: e.cfg.API.Authority}
	if e.cfg.API.ClientSecret != "" {
		occ.ClientSecret = e.cfg.API.ClientSecret
	} else {
		mi, err := managedIdentity()
		if err != nil {
			return nil, fmt.Errorf("managed identity for the on-behalf-of exchange: %w", err)
		}
		occ.ClientAssertion = backup.ManagedIdentityAssertion(mi)
	}
	obo, err := backup.NewOnBehalfOf(occ)
	if err != nil {
		return nil, err
	}
	// A local Graph (graphsim) accepts Microsoft Graph's own tokens.
	scope := ""
	if base, err := graphapi.ParseBaseURL(e.cfg.Graph.URL); err == nil && graphapi.IsLoopback(base) {
		scope = "https://graph.microsoft.com/.default"
	}
	return obo.AsCaller(e.cfg.Graph.URL, scope, version), nil
}
