// Key Vault for the secrets a rule table names (webhook URLs and signing
// secrets, a PagerDuty routing key): the app settings that carry them are
// Key Vault references, resolved with the managed identity, so no secret is
// a deployment parameter, lands in deployment history, or sits in an app
// setting (Learn azure/app-service/app-service-key-vault-references).
//
// RBAC authorization: the identity gets Key Vault Secrets User (read), the
// deploying person Key Vault Secrets Officer (to set and rotate secrets).

@description('Vault name: 3 to 24 letters, digits and hyphens.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the resource.')
param tags object

@description('Principal id of the managed identity that reads the secrets.')
param principalId string

@description('Object id of the person or pipeline deploying, who sets the secrets; empty for none.')
param secretsOfficerPrincipalId string = ''

@description('Purge protection: a deleted vault and its secrets cannot be purged before the retention ends. Security teams usually want it; it keeps the vault name taken for 90 days after azd down.')
param purgeProtection bool = true

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // null, not false: purge protection cannot be switched off once on.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

// Built-in role ids.
var secretsUserRole = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficerRole = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUserRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource officer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsOfficerPrincipalId)) {
  name: guid(vault.id, secretsOfficerPrincipalId, secretsOfficerRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficerRole)
    principalId: secretsOfficerPrincipalId
  }
}

@description('Vault name, for Key Vault references and az keyvault secret set.')
output name string = vault.name
