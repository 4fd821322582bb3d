// The tenant's Microsoft Entra diagnostic setting that streams the
// AuditLogs category to Reinstate's event hub.
//
// Resource type and scope: Microsoft.AADIAM/diagnosticSettings@2017-04-01,
// deployed at tenant scope
// (https://learn.microsoft.com/azure/templates/microsoft.aadiam/2017-04-01/diagnosticsettings).
//
// Who can deploy it: a Global Administrator or Security Administrator of
// the tenant (the Entra role that may create diagnostic settings; Learn
// entra/identity/monitoring-health/howto-stream-logs-to-event-hub), who
// also holds Azure rights at tenant scope for the deployment itself
// (Microsoft.Resources/deployments/* at "/", for example after elevating
// access) and may list the keys of the namespace's authorization rule
// (Microsoft.EventHub/namespaces/authorizationRules/listkeys/action).
// Needs Microsoft Entra ID P1 or P2. Deploy it once per tenant; main.bicep
// skips it when createEntraDiagnosticSetting is false.
targetScope = 'tenant'

@description('Name of the diagnostic setting, unique in the tenant.')
param name string

@description('Resource id of the Event Hubs namespace authorization rule to send with.')
param eventHubAuthorizationRuleId string

@description('Event hub that receives the AuditLogs category.')
param eventHubName string

resource setting 'Microsoft.AADIAM/diagnosticSettings@2017-04-01' = {
  name: name
  properties: {
    eventHubAuthorizationRuleId: eventHubAuthorizationRuleId
    eventHubName: eventHubName
    logs: [
      {
        category: 'AuditLogs'
        enabled: true
      }
    ]
  }
}

@description('Name of the diagnostic setting.')
output name string = setting.name
