//go:build tools

// Package deps pins the modules on the design card that later stages import:
// the standalone Event Hubs worker (azeventhubs v2). The build tag keeps it
// out of ordinary builds, while go.mod and go.sum hold its exact version.
// msgraph-sdk-go and azidentity are imported for real by pkg/graphapi, and
// cloudevents by pkg/notify (the webhook channel).
package deps

import (
	_ "github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)
