// Event Hubs: the namespace, the hub the Entra diagnostic setting streams
// AuditLogs to, and two consumer groups of Reinstate's own:
//
//   consumerGroupName        the AuditEvents trigger's, and nothing else's.
//                            The trigger reads through an event processor,
//                            which holds each partition with an exclusive
//                            (epoch, owner level) receiver and checkpoints.
//   replayConsumerGroupName  for ad-hoc readers: reinstate replay
//                            --from-eventhub, or a person looking. Such a
//                            reader is a plain (non-epoch) receiver that
//                            neither checkpoints nor claims partitions. In
//                            the trigger's group it would be refused on every
//                            partition the trigger holds ("epoch receivers
//                            always take precedence": Learn archive blog
//                            "Event Hubs Receiver Epoch"; Learn
//                            Microsoft.Azure.EventHubs CreateEpochReceiver:
//                            no non-epoch receiver on the same consumer
//                            group and partition), and it would count
//                            against that group's five readers a partition.
//                            Unconfirmed here: that the Functions
//                            extension's processor uses an owner level (the
//                            .NET and Java SDK processors do, per the Rust
//                            SDK's azure_messaging_eventhubs 0.15.0 notes).
//
// Standard tier: Basic has only the $Default consumer group (Learn
// azure/event-hubs/event-hubs-quotas; Unconfirmed here). Local (SAS)
// authentication stays on, because a Microsoft Entra diagnostic setting
// sends with a namespace authorization rule, not with an identity
// (Learn azure/templates/microsoft.aadiam/2017-04-01/diagnosticsettings:
// eventHubAuthorizationRuleId). Reinstate itself reads with its managed
// identity.

@description('Namespace name.')
param namespaceName string

@description('Event hub name.')
param eventHubName string

@description('Consumer group of the AuditEvents trigger.')
param consumerGroupName string

@description('Consumer group for ad-hoc readers such as reinstate replay --from-eventhub.')
param replayConsumerGroupName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object

@description('Principal id of the managed identity that receives.')
param principalId string

@description('Partitions of the hub; fixed once created on Standard.')
param partitionCount int = 4

@description('Days the hub keeps events: room to recover from an outage of the app.')
@minValue(1)
@maxValue(7)
param retentionDays int = 7

resource eventHubNamespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    minimumTlsVersion: '1.2'
  }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: eventHubNamespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionDays
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: consumerGroupName
  properties: {
    userMetadata: 'The AuditEvents trigger of Reinstate. Do not read with it: use ${replayConsumerGroupName}.'
  }
}

resource replayConsumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: replayConsumerGroupName
  properties: {
    userMetadata: 'Ad-hoc readers: reinstate replay --from-eventhub. Keeps no checkpoints.'
  }
}

// The rule the Entra diagnostic setting sends with. Unconfirmed: Azure
// Monitor's diagnostic-settings guidance asks for Manage, Send and Listen
// on the namespace policy; Send alone may be enough but was not tried.
resource diagnosticsRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = {
  parent: eventHubNamespace
  name: 'entra-diagnostics'
  properties: {
    rights: [
      'Manage'
      'Send'
      'Listen'
    ]
  }
}

// Azure Event Hubs Data Receiver (built-in role id), on the hub only
// (Learn azure-functions/functions-bindings-event-hubs-trigger,
// identity-based connections: the trigger needs Data Receiver or Owner).
// On the hub, it covers both consumer groups: replay run as the identity
// reads with it too.
var dataReceiverRole = 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'

resource receiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hub.id, principalId, dataReceiverRole)
  scope: hub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReceiverRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// serviceBusEndpoint is https://NAME.servicebus.windows.net:443/ in the
// public cloud, with the namespace's host in national clouds too.
@description('Fully qualified namespace, NAME.servicebus.windows.net: the trigger\'s __fullyQualifiedNamespace.')
output fullyQualifiedNamespace string = replace(replace(eventHubNamespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')

@description('Event hub name.')
output eventHubName string = hub.name

@description('Consumer group of the AuditEvents trigger.')
output consumerGroupName string = consumerGroup.name

@description('Consumer group for ad-hoc readers.')
output replayConsumerGroupName string = replayConsumerGroup.name

@description('Resource id of the authorization rule the Entra diagnostic setting sends with.')
output diagnosticsRuleId string = diagnosticsRule.id
