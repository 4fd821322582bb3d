// The storage account: the host's AzureWebJobsStorage (Event Hubs
// checkpoints in container azure-webjobs-eventhub, timer schedule
// monitors), the Flex Consumption deployment container, and the tables of
// Reinstate's shared store (REINSTATE_STORE=table:https://...).
//
// Shared-key access is off: every client here uses the managed identity.
// Flex Consumption accepts that when AzureWebJobsStorage is an
// identity-based connection and the deployment container authenticates
// with the identity (Learn azure/azure-functions/functions-reference
// "Connecting to host storage with an identity"; Azure/azure-dev#8307,
// maintainer comment: "allowSharedKeyAccess: false + managed identity via
// AzureWebJobsStorage__accountName — that's the right pattern").

@description('Storage account name: 3 to 24 lowercase letters and digits.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the resource.')
param tags object

@description('Blob container the Flex Consumption app deploys its package from.')
param deploymentContainerName string

@description('Prefix of the shared store\'s tables (pkg/store/table DefaultTablePrefix).')
param tablePrefix string = 'reinstate'

@description('Principal id of the managed identity that uses the account.')
param principalId string

// The tables pkg/store/table creates on open (table.go, Open), prefixed.
// Created here too so that they exist, and are removed, with the
// deployment; infra_test.go checks this list against the code.
var storeTables = [
  'claims'
  'journal'
  'deadletters'
  'intents'
  'hits'
  'marks'
  'silences'
  'locks'
  'records'
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in storeTables: {
  parent: tableService
  name: '${tablePrefix}${table}'
}]

// Built-in role ids. Blob Data Owner, not Contributor: the host takes blob
// leases for Event Hubs partition ownership and timer singletons (Learn
// functions-reference, "Connecting to host storage with an identity").
var blobDataOwnerRole = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var tableDataContributorRole = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, blobDataOwnerRole)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwnerRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, tableDataContributorRole)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributorRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Storage account name.')
output name string = account.name

@description('Blob endpoint, with a trailing slash.')
output blobEndpoint string = account.properties.primaryEndpoints.blob

@description('Table endpoint, without a trailing slash: what REINSTATE_STORE names after "table:".')
output tableEndpoint string = 'https://${account.name}.table.${environment().suffixes.storage}'
