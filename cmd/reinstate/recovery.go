package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

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
	return recovery.NewWorker(st, executor, recovery.WorkerOptions{Logger: e.log, Concurrency: e.cfg.Workers, Concluded: concluded}), executor, nil
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
		var opts azidentity.ManagedIdentityCredentialOptions
		if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
			opts.ID = azidentity.ClientID(id)
		}
		return azidentity.NewManagedIdentityCredential(&opts)
	}
	return azidentity.NewDefaultAzureCredential(nil)
}
