// Logs and telemetry: a Log Analytics workspace and a workspace-based
// Application Insights component. Local (key) authentication is off, so the
// host sends telemetry with the managed identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING; Learn
// azure/azure-monitor/app/azure-ad-authentication), which needs Monitoring
// Metrics Publisher on the component.

@description('Name of the Log Analytics workspace.')
param workspaceName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object

@description('Principal id of the managed identity that publishes telemetry.')
param principalId string

@description('Days the workspace keeps logs.')
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// Monitoring Metrics Publisher (built-in role id).
var metricsPublisherRole = '3913510d-42f4-4e42-8a64-420c390055eb'

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, metricsPublisherRole)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisherRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Application Insights connection string (holds no secret: local auth is off).')
output connectionString string = appInsights.properties.ConnectionString

@description('Name of the Application Insights component.')
output applicationInsightsName string = appInsights.name
