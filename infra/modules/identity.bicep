// The user-assigned managed identity Reinstate runs as. User-assigned, not
// system-assigned, so that it exists before the Function app: the Graph
// permissions, the API app's federated credential and the role assignments
// can all name it in the same deployment, and it survives a re-created app.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the resource.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id, for the app identity and role assignments.')
output id string = identity.id

@description('Client (application) id: AZURE_CLIENT_ID and the identity-based connections pick the identity by it.')
output clientId string = identity.properties.clientId

@description('Object (principal) id: what role assignments, app role assignments and the federated credential name.')
output principalId string = identity.properties.principalId
