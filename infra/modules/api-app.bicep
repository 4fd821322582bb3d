// The Reinstate API app registration: the audience of the on-call API's
// tokens (pkg/apiauth), its app roles, the scope the Azure CLI asks for
// (`reinstate restore` signs in with az login), and the client of the
// on-behalf-of exchange that lets an approver create Backup & Recovery jobs
// as themselves (pkg/backup/obo.go).
//
// Microsoft Graph Bicep extension v1.0 types: Microsoft.Graph/applications,
// applications/federatedIdentityCredentials, servicePrincipals and
// oauth2PermissionGrants (https://learn.microsoft.com/graph/templates/reference/overview).
// Deploying it needs an Entra role that may create app registrations and
// grant tenant-wide consent to delegated Microsoft Graph permissions:
// Application Administrator for the registration, Privileged Role
// Administrator (or Global Administrator) for the consent.
extension microsoftGraphV1

@description('azd environment name: keeps registrations of several environments apart.')
param environmentName string

@description('Principal (object) id of Reinstate\'s user-assigned managed identity: the federated credential that authenticates this app without a secret.')
param identityPrincipalId string

@description('Microsoft Graph delegated permissions the approver\'s on-behalf-of token carries; consented for the whole tenant. Empty when Backup & Recovery is off.')
param delegatedPermissions array

var graphAppId = '00000003-0000-0000-c000-000000000000'

// The Azure CLI's public client, pre-authorized for the API's scope so that
// `az login` and `reinstate restore` work without a consent prompt
// (docs/CONFIG.md, on-call API).
var azureCliAppId = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'

// api://{tenantId}/{string} is one of the App ID URI forms Entra accepts
// for new apps without a verified domain
// (https://learn.microsoft.com/entra/identity-platform/identifier-uri-restrictions),
// and it can be set in the same deployment that creates the app, unlike
// api://{appId}.
var identifierUri = 'api://${tenant().tenantId}/reinstate-${environmentName}'

// Ids are derived, not random, so that a redeployment keeps them.
var scopeId = guid(tenant().tenantId, environmentName, 'reinstate-api', 'user_impersonation')

// The app roles pkg/apiauth checks (caller.go RoleRead, RoleOperate,
// RoleApprove). Users and apps alike: on-call people, and automation such
// as a runbook's managed identity.
var roles = [
  {
    value: 'Recovery.Read'
    displayName: 'Read recoveries'
    description: 'See restores, the recycle bin, silences, Backup & Recovery cases and the journal.'
  }
  {
    value: 'Recovery.Operate'
    displayName: 'Operate recoveries'
    description: 'Queue restores, silence rules, initiators or objects, and reset the mass-deletion breaker.'
  }
  {
    value: 'Recovery.Approve'
    displayName: 'Approve Backup & Recovery'
    description: 'Start a Backup & Recovery preview and approve its recovery; Graph creates the job as the approver.'
  }
]

var appRoles = map(roles, role => {
  id: guid(tenant().tenantId, environmentName, 'reinstate-api', role.value)
  value: role.value
  displayName: role.displayName
  description: role.description
  allowedMemberTypes: [
    'User'
    'Application'
  ]
  isEnabled: true
})

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

// Scope ids are looked up by value, like the app role ids in
// graph-permissions.bicep.
var graphDelegatedAccess = [for permission in delegatedPermissions: {
  id: filter(graph.oauth2PermissionScopes, scope => scope.value == permission)[0].id
  type: 'Scope'
}]

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'reinstate-api-${environmentName}'
  displayName: 'Reinstate API (${environmentName})'
  signInAudience: 'AzureADMyOrg'
  identifierUris: [
    identifierUri
  ]
  appRoles: appRoles
  api: {
    // v2.0 access tokens: aud is the client id (pkg/apiauth accepts both
    // token versions).
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      {
        id: scopeId
        value: 'user_impersonation'
        type: 'Admin'
        isEnabled: true
        adminConsentDisplayName: 'Use Reinstate'
        adminConsentDescription: 'Call the Reinstate on-call API as the signed-in person, with the app roles the person holds.'
        userConsentDisplayName: 'Use Reinstate'
        userConsentDescription: 'Call the Reinstate on-call API as you.'
      }
    ]
    preAuthorizedApplications: [
      {
        appId: azureCliAppId
        delegatedPermissionIds: [
          scopeId
        ]
      }
    ]
  }
  requiredResourceAccess: empty(delegatedPermissions) ? [] : [
    {
      resourceAppId: graphAppId
      resourceAccess: graphDelegatedAccess
    }
  ]

  // The managed identity as the app's credential for the on-behalf-of
  // exchange: no client secret exists
  // (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity;
  // resource type: https://learn.microsoft.com/graph/templates/reference/overview).
  // The audience is the public cloud's, as pkg/backup TokenExchangeScope.
  resource managedIdentityCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${app.uniqueName}/reinstate-managed-identity'
    description: 'Reinstate\'s managed identity authenticates the on-behalf-of exchange.'
    audiences: [
      'api://AzureADTokenExchange'
    ]
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    subject: identityPrincipalId
  }
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  // Only people and apps assigned one of the app roles get a token.
  appRoleAssignmentRequired: true
}

// Tenant-wide consent to the delegated permissions, so that an approver's
// token can be exchanged without an interactive consent.
resource oboConsent 'Microsoft.Graph/oauth2PermissionGrants@v1.0' = if (!empty(delegatedPermissions)) {
  clientId: servicePrincipal.id
  consentType: 'AllPrincipals'
  resourceId: graph.id
  scope: join(delegatedPermissions, ' ')
}

@description('The app\'s client id: REINSTATE_API_CLIENT_ID and an accepted token audience.')
output clientId string = app.appId

@description('The App ID URI, an accepted token audience.')
output identifierUri string = identifierUri

@description('What the CLI asks Entra ID for: REINSTATE_API_SCOPE.')
output scope string = '${identifierUri}/.default'
