// Key Vault, RBAC-authorised: the secrets, the app's MQTT client certificate (PKCS#12, base64) and the webhooks'
// settings, are uploaded by the deploy guide and reach the app as Key Vault references.
param name string
param location string
param tags object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
  }
}

output name string = vault.name
output mqttCertificateSecretUri string = '${vault.properties.vaultUri}secrets/mqtt-client-certificate'
// The notification settings (webhook URLs and their signing secrets), the local host's notifications file as JSON.
output notificationsSecretUri string = '${vault.properties.vaultUri}secrets/notifications'
