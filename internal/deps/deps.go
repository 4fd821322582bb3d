//go:build tools

// Package deps pins the modules on the design card that later stages import:
// the Event Hubs worker (azeventhubs v2, with azidentity), the recovery
// executor (msgraph-sdk-go) and the webhook channel (cloudevents). The build
// tag keeps them out of ordinary builds, so their compile time is paid only
// by the packages that use them, while go.mod and go.sum hold exact versions.
package deps

import (
	_ "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	_ "github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	_ "github.com/cloudevents/sdk-go/v2"
	_ "github.com/microsoftgraph/msgraph-sdk-go"
)
