package main

import (
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
)

// newWorker builds the recovery executor over Graph and the worker that
// drains restore intents from st.
func (e *env) newWorker(st store.Store) (*recovery.Worker, error) {
	graph, err := newGraphClient(e.cfg.Graph)
	if err != nil {
		return nil, err
	}
	executor := recovery.NewExecutor(graph, recovery.ExecutorOptions{
		Logger: e.log,
		Pacer:  recovery.NewPacer(e.cfg.WriteQuota, e.cfg.WriteWindow),
	})
	return recovery.NewWorker(st, executor, recovery.WorkerOptions{Logger: e.log, Concurrency: e.cfg.Workers}), nil
}

// decider is the interim rule: restore the listed objects.
func (e *env) decider() pipeline.Decider {
	if len(e.cfg.RestoreObjectIDs) == 0 {
		return nil
	}
	return pipeline.NewObjectListDecider(e.cfg.RestoreObjectIDs)
}

func newGraphClient(cfg config.GraphConfig) (*graphapi.Client, error) {
	gc := graphapi.Config{BaseURL: cfg.URL, Auth: graphapi.AuthMode(cfg.Auth), Token: cfg.Token}
	if gc.Auth == graphapi.AuthAzure {
		cred, err := azureCredential()
		if err != nil {
			return nil, fmt.Errorf("azure credential: %w", err)
		}
		gc.Credential = cred
	}
	client, err := graphapi.New(gc)
	if err != nil {
		return nil, fmt.Errorf("graph client (%s): %w", cfg, err)
	}
	return client, nil
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
