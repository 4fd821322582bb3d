//go:build tools

// Package deps pins the modules on the design card that later stages import:
// the standalone Event Hubs worker (azeventhubs v2) and the webhook channel
// (cloudevents). The build tag keeps them out of ordinary builds, while
// go.mod and go.sum hold their exact versions. msgraph-sdk-go and azidentity
// are imported for real by pkg/graphapi.
package deps

import (
	_ "github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	_ "github.com/cloudevents/sdk-go/v2"
)
