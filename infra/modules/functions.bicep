// The Functions app on Flex Consumption (Linux, .NET isolated), with a system-assigned managed identity. Every
// connection is identity-based: the settings below hold endpoints and names, never keys or connection strings
// (the one secret, the MQTT client certificate, is a Key Vault reference).
param name string
param location string
param tags object
param maximumInstanceCount int
param storageAccountName string
param deploymentContainerName string
param appInsightsConnectionString string
param eventHubsNamespaceHost string
param eventHubName string
@description('The hub\'s partition count: the store keeps devices per site and partition (CosmosStoreOptions.Partitions).')
param eventHubPartitions int
param consumerGroup string
param cosmosEndpoint string
param cosmosDatabase string
param mqttHost string
param mqttCertificateSecretUri string
param notificationsSecretUri string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${name}-func'
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: 'SystemAssigned'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'EventHubs__fullyQualifiedNamespace', value: eventHubsNamespaceHost }
        { name: 'Cosmos__accountEndpoint', value: cosmosEndpoint }
        { name: 'SmartPower__CosmosEndpoint', value: cosmosEndpoint }
        { name: 'SmartPower__Database', value: cosmosDatabase }
        { name: 'SmartPower__EventHub', value: eventHubName }
        { name: 'SmartPower__ConsumerGroup', value: consumerGroup }
        { name: 'SmartPower__EventHubPartitions', value: string(eventHubPartitions) }
        { name: 'SmartPower__RegistryPath', value: 'registry.json' }
        { name: 'SmartPower__MqttHost', value: mqttHost }
        { name: 'SmartPower__MqttClientCertificate', value: '@Microsoft.KeyVault(SecretUri=${mqttCertificateSecretUri})' }
        { name: 'SmartPower__NotificationsJson', value: '@Microsoft.KeyVault(SecretUri=${notificationsSecretUri})' }
      ]
    }
  }
}

output appName string = app.name
output principalId string = app.identity.principalId
