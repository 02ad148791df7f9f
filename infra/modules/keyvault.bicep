// Key Vault, RBAC-authorised: the one secret, the app's MQTT client certificate (PKCS#12, base64), is uploaded by the
// deploy guide and reaches the app as a Key Vault reference.
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
