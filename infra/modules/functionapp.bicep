// The Function app: Linux, Flex Consumption plan, custom-handler runtime,
// running as the user-assigned managed identity.
//
// Runtime: functionAppConfig.runtime {name: 'custom', version: '1.0'}.
// The name "custom" is one of the API's runtime names ("Available options:
// dotnet-isolated, node, java, powershell, python, custom";
// https://learn.microsoft.com/dotnet/api/azure.provisioning.appservice.functionappruntimename,
// and Azure-Samples/azure-functions-flex-consumption-samples
// functions-flexconsumption.bicep allows 'custom'). The version "1.0"
// is Unconfirmed: it is what the Az.Functions Flex stack data lists for
// custom handlers (../shared/reference/functions-custom-handler-and-audit-logs.md
// §A4); check with `az functionapp list-flexconsumption-runtimes -l REGION
// --runtime custom` before the first deployment.
// On Flex the runtime is not the FUNCTIONS_WORKER_RUNTIME app setting,
// which "isn't needed and isn't accepted on Flex" (Azure/azure-dev#8307).

@description('Function app name, globally unique.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the resources; the app also gets azd-service-name.')
param tags object

@description('azd service name in azure.yaml: azd finds the app by this tag.')
param serviceName string

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Principal (object) id of the user-assigned managed identity.')
param identityPrincipalId string

@description('Storage account name (AzureWebJobsStorage).')
param storageAccountName string

@description('Blob endpoint of the storage account, with a trailing slash.')
param storageBlobEndpoint string

@description('Table endpoint of the storage account, without a trailing slash.')
param storageTableEndpoint string

@description('Deployment container in the storage account.')
param deploymentContainerName string

@description('Event Hubs namespace, NAME.servicebus.windows.net.')
param eventHubNamespace string

@description('Event hub carrying the Entra audit logs.')
param eventHubName string

@description('Consumer group dedicated to Reinstate.')
param consumerGroupName string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Key Vault name, for Key Vault references.')
param keyVaultName string

@description('Names of app settings that the rule table reads with \${NAME} and that hold secrets: each becomes a Key Vault reference to the secret named like it in lower case, with hyphens for underscores.')
param keyVaultSecretSettings array = []

@description('observe or enforce: REINSTATE_MODE, which wins over the rule table.')
@allowed([
  'observe'
  'enforce'
])
param mode string

@description('The Reinstate API app registration\'s client id; empty when the on-call API is not set up.')
param apiClientId string = ''

@description('The Reinstate API app registration\'s App ID URI; empty when the on-call API is not set up.')
param apiIdentifierUri string = ''

@description('Most instances the app scales out to (Flex Consumption: 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// Every app setting the template sets. infra_test.go reads this object's
// keys: each must be one the code or the Functions host reads.
var appSettings = {
  // Host storage as an identity-based connection
  // (Learn azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity;
  // __credential/__clientId pick a user-assigned identity:
  // functions-reference#common-properties-for-identity-based-connections).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // The AuditEvents trigger's connection (function.json connection
  // ReinstateAuditEventHub) as an identity-based connection
  // (Learn azure/azure-functions/functions-bindings-event-hubs-trigger,
  // identity-based connections: <CONNECTION>__fullyQualifiedNamespace).
  ReinstateAuditEventHub__fullyQualifiedNamespace: eventHubNamespace
  ReinstateAuditEventHub__credential: 'managedidentity'
  ReinstateAuditEventHub__clientId: identityClientId
  // %NAME% expressions in AuditEvents/function.json.
  REINSTATE_AUDIT_EVENTHUB_NAME: eventHubName
  REINSTATE_AUDIT_CONSUMER_GROUP: consumerGroupName
  // Telemetry with the managed identity; the component has local auth off
  // (Learn azure/azure-monitor/app/azure-ad-authentication).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Reinstate's own settings (docs/CONFIG.md). The managed identity is
  // user-assigned: azidentity picks it by client id (cmd/reinstate
  // azureCredential; DefaultAzureCredential for the table store).
  AZURE_CLIENT_ID: identityClientId
  REINSTATE_STORE: 'table:${storageTableEndpoint}'
  REINSTATE_TENANT_ID: tenant().tenantId
  REINSTATE_MODE: mode
  REINSTATE_LOG_FORMAT: 'json'
  REINSTATE_SELF_IDS: '${identityClientId},${identityPrincipalId}'
  REINSTATE_API_AUDIENCES: empty(apiClientId) ? '' : '${apiClientId},${apiIdentifierUri}'
  REINSTATE_API_CLIENT_ID: apiClientId
  // With its trailing slash, which pkg/config trims.
  REINSTATE_API_AUTHORITY: environment().authentication.loginEndpoint
}

// Key Vault references, versionless so that a new secret version is picked
// up without a redeployment
// (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references).
var secretSettings = toObject(keyVaultSecretSettings, setting => setting, setting => '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${toLower(replace(setting, '_', '-'))})')

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with this identity, not a
    // system-assigned one (the app has none).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(appSettings, secretSettings)
  }
}

@description('Function app name.')
output name string = site.name

@description('The app\'s https base URL, such as https://NAME.azurewebsites.net.')
output url string = 'https://${site.properties.defaultHostName}'
