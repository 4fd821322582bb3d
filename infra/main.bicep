// Reinstate in one subscription deployment: what `azd up` provisions.
//
//   resource group
//     user-assigned managed identity      (modules/identity.bicep)
//     Log Analytics + Application Insights (modules/monitoring.bicep)
//     storage: host storage, deployment container, shared-store tables
//                                          (modules/storage.bicep)
//     Event Hubs namespace, hub, consumer groups (modules/eventhubs.bicep)
//     Key Vault for rule-table secrets     (modules/keyvault.bicep)
//     Flex Consumption Function app        (modules/functionapp.bicep)
//   tenant
//     Entra diagnostic setting: AuditLogs -> the hub
//                                          (modules/entra-diagnostics.bicep)
//   Microsoft Entra ID (Microsoft Graph Bicep extension)
//     Graph application permissions of the identity, per feature
//                                          (modules/graph-permissions.bicep)
//     the Reinstate API app registration   (modules/api-app.bicep)
//
// These templates were not compiled here: no Bicep compiler or Azure CLI
// could be installed where they were written. infra/infra_test.go checks
// their structure and their agreement with the code; see docs/DEPLOY.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name: names the resource group and keeps environments apart.')
param environmentName string

@minLength(1)
@description('Azure region of every resource. It must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string

@description('Object id of the person or pipeline running azd (azd sets AZURE_PRINCIPAL_ID): may set and rotate Key Vault secrets. Empty for none.')
param principalId string = ''

@description('Resource group name; empty for rg-ENVIRONMENT.')
param resourceGroupName string = ''

@description('REINSTATE_MODE: observe (decide, notify, journal; write nothing) or enforce (restore). Empty means observe. It wins over the rule table\'s defaults.mode.')
@allowed([
  ''
  'observe'
  'enforce'
])
param reinstateMode string = ''

// Features. Each one switches on the Microsoft Graph permissions in the
// table below, and only those.

@description('Restore deleted users.')
param restoreUsers bool = true

@description('Restore deleted groups.')
param restoreGroups bool = true

@description('Restore deleted applications and their service principals.')
param restoreApplications bool = true

@description('Application permission for restoring applications: OwnedBy (only apps whose owners include Reinstate\'s identity) or All (every app; Application.ReadWrite.All lets the identity change any app\'s credentials). See docs/DEPLOY.md.')
@allowed([
  'OwnedBy'
  'All'
])
param applicationPermission string = 'OwnedBy'

@description('Restore deleted administrative units.')
param restoreAdministrativeUnits bool = true

@description('Restore deleted Conditional Access policies and named locations.')
param restoreConditionalAccess bool = true

@description('Entra Backup & Recovery previews and recoveries (Microsoft Entra ID P1 or P2). Job creation is delegated-only: it also needs onCallApi, through which an approver starts them.')
param backupRecovery bool = true

@description('The on-call API and its app registration (app roles Recovery.Read, Recovery.Operate, Recovery.Approve).')
param onCallApi bool = true

@description('reinstate replay --from-graph run as the managed identity: grants AuditLog.Read.All and Directory.Read.All, which GET /auditLogs/directoryAudits requires together. Off by default: the service reads the audit log from Event Hubs and needs neither. docs/DEPLOY.md, Backfill and catching up.')
param enableReplayFromGraph bool = false

@description('Grant the Graph application permissions with the Microsoft Graph Bicep extension. False when the deploying person may not grant them: docs/DEPLOY.md gives the commands for an administrator.')
param grantGraphPermissions bool = true

@description('Create the tenant\'s Entra diagnostic setting (AuditLogs to the hub). Needs a Global Administrator or Security Administrator; deploy once per tenant.')
param createEntraDiagnosticSetting bool = true

@description('Comma-separated names of app settings a rule table reads with \${NAME} that hold secrets (webhook URLs and signing secrets, routing keys). Each becomes a Key Vault reference; set the secrets with az keyvault secret set.')
param keyVaultSecretSettings string = ''

@description('Key Vault purge protection.')
param keyVaultPurgeProtection bool = true

@description('Most instances the Function app scales out to (Flex Consumption: 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance, in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Event hub the Entra diagnostic setting streams AuditLogs to.')
param eventHubName string = 'entra-audit'

@description('Consumer group of the AuditEvents trigger, and of nothing else.')
param consumerGroupName string = 'reinstate'

@description('Consumer group for ad-hoc readers of the hub, such as reinstate replay --from-eventhub: never the trigger\'s, whose partitions its event processor holds.')
param replayConsumerGroupName string = 'reinstate-replay'

// The Microsoft Graph permissions, per feature. docs/DEPLOY.md has the same
// table with the reason and the Learn page for each row; infra_test.go
// checks that the two agree row for row. Application permissions go to the
// managed identity; delegated ones are consented on the API app for the
// approver's on-behalf-of exchange.
var graphPermissions = [
  {
    feature: 'users'
    enabled: restoreUsers
    type: 'Application'
    permission: 'User.Read.All'
  }
  {
    feature: 'users'
    enabled: restoreUsers
    type: 'Application'
    permission: 'User.DeleteRestore.All'
  }
  {
    feature: 'groups'
    enabled: restoreGroups
    type: 'Application'
    permission: 'Group.ReadWrite.All'
  }
  {
    feature: 'applications'
    enabled: restoreApplications && applicationPermission == 'OwnedBy'
    type: 'Application'
    permission: 'Application.ReadWrite.OwnedBy'
  }
  {
    feature: 'applications'
    enabled: restoreApplications && applicationPermission == 'OwnedBy'
    type: 'Application'
    permission: 'Application.Read.All'
  }
  {
    feature: 'applications'
    enabled: restoreApplications && applicationPermission == 'All'
    type: 'Application'
    permission: 'Application.ReadWrite.All'
  }
  {
    feature: 'administrativeUnits'
    enabled: restoreAdministrativeUnits
    type: 'Application'
    permission: 'AdministrativeUnit.ReadWrite.All'
  }
  {
    feature: 'conditionalAccess'
    enabled: restoreConditionalAccess
    type: 'Application'
    permission: 'Policy.Read.All'
  }
  {
    feature: 'conditionalAccess'
    enabled: restoreConditionalAccess
    type: 'Application'
    permission: 'Policy.ReadWrite.ConditionalAccess'
  }
  {
    feature: 'backupRecovery'
    enabled: backupRecovery
    type: 'Application'
    permission: 'EntraBackup.Read.All'
  }
  {
    feature: 'backupRecovery'
    enabled: backupRecovery && onCallApi
    type: 'Delegated'
    permission: 'EntraBackup.Read.All'
  }
  {
    feature: 'backupRecovery'
    enabled: backupRecovery && onCallApi
    type: 'Delegated'
    permission: 'EntraBackup.ReadWrite.Preview'
  }
  {
    feature: 'backupRecovery'
    enabled: backupRecovery && onCallApi
    type: 'Delegated'
    permission: 'EntraBackup.ReadWrite.Recovery'
  }
  {
    feature: 'replayFromGraph'
    enabled: enableReplayFromGraph
    type: 'Application'
    permission: 'AuditLog.Read.All'
  }
  {
    feature: 'replayFromGraph'
    enabled: enableReplayFromGraph
    type: 'Application'
    permission: 'Directory.Read.All'
  }
]

// union(x, []) drops duplicates.
var applicationPermissions = union(map(filter(graphPermissions, p => p.enabled && p.type == 'Application'), p => p.permission), [])
var delegatedPermissions = union(map(filter(graphPermissions, p => p.enabled && p.type == 'Delegated'), p => p.permission), [])

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var mode = empty(reinstateMode) ? 'observe' : reinstateMode
var secretSettings = filter(map(split(keyVaultSecretSettings, ','), setting => trim(setting)), setting => !empty(setting))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'reinstate-identity'
  scope: rg
  params: {
    name: 'id-reinstate-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'reinstate-monitoring'
  scope: rg
  params: {
    workspaceName: 'log-reinstate-${resourceToken}'
    applicationInsightsName: 'appi-reinstate-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

var deploymentContainerName = 'app-package'

module storage 'modules/storage.bicep' = {
  name: 'reinstate-storage'
  scope: rg
  params: {
    name: 'streinstate${take(resourceToken, 13)}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    principalId: identity.outputs.principalId
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'reinstate-eventhubs'
  scope: rg
  params: {
    namespaceName: 'evhns-reinstate-${resourceToken}'
    eventHubName: eventHubName
    consumerGroupName: consumerGroupName
    replayConsumerGroupName: replayConsumerGroupName
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'reinstate-keyvault'
  scope: rg
  params: {
    name: 'kv-reinst-${take(resourceToken, 13)}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    secretsOfficerPrincipalId: principalId
    purgeProtection: keyVaultPurgeProtection
  }
}

module graphGrants 'modules/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'reinstate-graph-permissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    permissions: applicationPermissions
  }
}

module apiApp 'modules/api-app.bicep' = if (onCallApi) {
  name: 'reinstate-api-app'
  scope: rg
  params: {
    environmentName: environmentName
    identityPrincipalId: identity.outputs.principalId
    delegatedPermissions: delegatedPermissions
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'reinstate-functionapp'
  scope: rg
  params: {
    name: 'func-reinstate-${resourceToken}'
    planName: 'plan-reinstate-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'reinstate'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    eventHubNamespace: eventHubs.outputs.fullyQualifiedNamespace
    eventHubName: eventHubs.outputs.eventHubName
    consumerGroupName: eventHubs.outputs.consumerGroupName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultName: keyVault.outputs.name
    keyVaultSecretSettings: secretSettings
    mode: mode
    apiClientId: onCallApi ? apiApp.outputs.clientId : ''
    apiIdentifierUri: onCallApi ? apiApp.outputs.identifierUri : ''
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

// Tenant scope from a subscription deployment
// (https://learn.microsoft.com/azure/azure-resource-manager/bicep/deploy-to-subscription#scope-to-tenant):
// the deploying person needs rights at tenant scope, which is why it can
// be switched off and deployed once by an administrator.
module entraDiagnostics 'modules/entra-diagnostics.bicep' = if (createEntraDiagnosticSetting) {
  name: 'reinstate-entra-diagnostics-${environmentName}'
  scope: tenant()
  params: {
    name: 'reinstate-${environmentName}'
    eventHubAuthorizationRuleId: eventHubs.outputs.diagnosticsRuleId
    eventHubName: eventHubs.outputs.eventHubName
  }
}

// azd writes these into the environment (azd env get-values). The REINSTATE_
// ones are named as the command line reads them, so that
// `set -a; eval "$(azd env get-values)"; set +a` readies `reinstate restore`
// and `reinstate replay`.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output REINSTATE_FUNCTION_APP_NAME string = functionApp.outputs.name
output REINSTATE_API_URL string = functionApp.outputs.url
output REINSTATE_API_SCOPE string = onCallApi ? apiApp.outputs.scope : ''
output REINSTATE_API_CLIENT_ID string = onCallApi ? apiApp.outputs.clientId : ''
output REINSTATE_TENANT_ID string = tenant().tenantId
output REINSTATE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output REINSTATE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output REINSTATE_KEY_VAULT_NAME string = keyVault.outputs.name
output REINSTATE_EVENTHUB_NAMESPACE string = eventHubs.outputs.fullyQualifiedNamespace
output REINSTATE_EVENTHUB_NAME string = eventHubs.outputs.eventHubName
// For reinstate replay run from an operator's machine or a job: the store
// it records in, and the consumer group --from-eventhub reads with
// (--consumer-group; REINSTATE_EVENTHUB_CONSUMER_GROUP is the standalone
// worker's, and the trigger's group must not be shared).
output REINSTATE_STORE string = 'table:${storage.outputs.tableEndpoint}'
output REINSTATE_REPLAY_CONSUMER_GROUP string = eventHubs.outputs.replayConsumerGroupName
output REINSTATE_GRAPH_APPLICATION_PERMISSIONS array = grantGraphPermissions ? applicationPermissions : []
