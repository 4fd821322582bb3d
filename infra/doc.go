// Package infra holds no code. Its folder is Reinstate's infrastructure as
// code: main.bicep and its modules deploy the Function app, its storage,
// Event Hubs, the Entra diagnostic setting, Key Vault, monitoring and the
// least-privilege Microsoft Graph permissions (docs/DEPLOY.md). The package
// exists for infra_test.go, which checks those templates against the code
// they deploy, since no Bicep compiler runs where the tests run.
package infra
