// Microsoft Graph application permissions for Reinstate's managed identity:
// one app role assignment per permission main.bicep's table switches on.
// An appRoleAssignedTo on the Microsoft Graph service principal is what
// admin consent to an application permission creates, so no consent click
// follows.
//
// Microsoft Graph Bicep extension (v1.0 types): resource types
// Microsoft.Graph/servicePrincipals and Microsoft.Graph/appRoleAssignedTo
// (https://learn.microsoft.com/graph/templates/reference/overview); the
// extension alias microsoftGraphV1 is defined in ../bicepconfig.json
// (https://learn.microsoft.com/graph/templates/how-to-dynamic-types).
// Deploying it needs AppRoleAssignment.ReadWrite.All and
// Application.Read.All, delegated, for the deployer
// (https://learn.microsoft.com/graph/templates/reference/approleassignedto):
// in role terms a Privileged Role Administrator or Global Administrator.
extension microsoftGraphV1

@description('Principal (object) id of the managed identity.')
param principalId string

@description('Microsoft Graph application permissions (app role values) to grant.')
param permissions array

// Microsoft Graph's application id, the same in every tenant.
var graphAppId = '00000003-0000-0000-c000-000000000000'

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

// App role ids are looked up by value, not hard-coded, so the table reads
// as the permission names the Graph docs use.
resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for permission in permissions: {
  appRoleId: filter(graph.appRoles, role => role.value == permission)[0].id
  principalId: principalId
  resourceId: graph.id
}]

@description('The permissions granted.')
output granted array = permissions
