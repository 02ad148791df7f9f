// SmartPower on Azure: the whole deployment into one resource group. See infra/README.md for the az commands.
//
//   devices --MQTT--> Event Grid namespace (MQTT broker) --route--> namespace topic --push--> Event Hubs (telemetry)
//   Event Hubs --trigger--> Functions (detection) --> Cosmos DB (alerts, devices) --change feed--> Functions (notification)
//   Functions (watchdog, timer) --> Cosmos DB;  Functions --MQTT (client certificate)--> Event Grid (stop-port commands)
//
// Every service is reached with managed identities and role assignments: local (key) auth is off on Event Hubs, Cosmos
// DB and Storage, and the app holds no connection string. The one secret, the app's MQTT client certificate, lives in
// Key Vault and reaches the app as a Key Vault reference.

targetScope = 'resourceGroup'

@description('Prefix of every resource name (lowercase letters and digits, 3-11 characters).')
@minLength(3)
@maxLength(11)
param name string = 'smartpower'

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Event Hubs throughput units (1 TU: 1 MB/s or 1,000 events/s in). See the scale model in infra/README.md.')
@minValue(1)
@maxValue(40)
param eventHubsThroughputUnits int = 2

@description('Event Hubs partitions of the telemetry hub: the most detection instances that can run at once.')
@minValue(2)
@maxValue(32)
param eventHubPartitions int = 32

@description('Event Grid MQTT throughput units (1 TU: 10,000 sessions, 1,000 publishes/s in). See the scale model in infra/README.md.')
@minValue(1)
@maxValue(40)
param eventGridThroughputUnits int = 2

@description('Cosmos DB autoscale maximum RU/s shared by the database (it scales between 10% of this and this).')
@minValue(1000)
param cosmosMaxThroughput int = 4000

@description('Most instances Flex Consumption may scale the app to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Base64 PEM of the CA that signs device certificates (leave empty to register devices by thumbprint only).')
param deviceCaCertificate string = ''

@description('Thumbprint of the app\'s MQTT client certificate (infra/README.md); empty: registered in a second run.')
param appCertificateThumbprint string = ''

@description('Object id of whoever deploys, given Key Vault Secrets Officer to upload the MQTT client certificate (optional).')
param deployerPrincipalId string = ''

var suffix = uniqueString(resourceGroup().id, name)
// Each app instance holds its own MQTT session as the app's client (Event Grid allows at most 100 per name).
var appMqttSessions = min(maximumInstanceCount, 100)
var tags = {
  app: 'smartpower'
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: '${name}-${suffix}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take('${name}${suffix}', 24)
    location: location
    tags: tags
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'eventhubs'
  params: {
    name: '${name}-${suffix}'
    location: location
    tags: tags
    throughputUnits: eventHubsThroughputUnits
    partitions: eventHubPartitions
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    name: '${name}-${suffix}'
    location: location
    tags: tags
    maxThroughput: cosmosMaxThroughput
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: take('${name}-${suffix}', 24)
    location: location
    tags: tags
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  params: {
    name: '${name}-${suffix}'
    location: location
    tags: tags
    eventHubNamespaceName: eventHubs.outputs.namespaceName
    eventHubName: eventHubs.outputs.eventHubName
    deviceCaCertificate: deviceCaCertificate
    appCertificateThumbprint: appCertificateThumbprint
    throughputUnits: eventGridThroughputUnits
    appSessions: appMqttSessions
  }
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  params: {
    name: '${name}-${suffix}'
    location: location
    tags: tags
    maximumInstanceCount: maximumInstanceCount
    storageAccountName: storage.outputs.accountName
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    eventHubsNamespaceHost: eventHubs.outputs.namespaceHost
    eventHubName: eventHubs.outputs.eventHubName
    eventHubPartitions: eventHubPartitions
    consumerGroup: eventHubs.outputs.consumerGroup
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmos.outputs.databaseName
    mqttHost: eventGrid.outputs.mqttHostname
    mqttCertificateSecretUri: keyVault.outputs.mqttCertificateSecretUri
    notificationsSecretUri: keyVault.outputs.notificationsSecretUri
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    appPrincipalId: functions.outputs.principalId
    eventGridPrincipalId: eventGrid.outputs.principalId
    deployerPrincipalId: deployerPrincipalId
    storageAccountName: storage.outputs.accountName
    eventHubNamespaceName: eventHubs.outputs.namespaceName
    eventHubName: eventHubs.outputs.eventHubName
    cosmosAccountName: cosmos.outputs.accountName
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module eventGridRouting 'modules/eventgrid-routing.bicep' = {
  name: 'eventgrid-routing'
  dependsOn: [roles]
  params: {
    name: eventGrid.outputs.namespaceName
    location: location
    tags: tags
    routeTopicName: eventGrid.outputs.routeTopicName
    throughputUnits: eventGridThroughputUnits
    appSessions: appMqttSessions
    eventHubNamespaceName: eventHubs.outputs.namespaceName
    eventHubName: eventHubs.outputs.eventHubName
  }
}

output functionAppName string = functions.outputs.appName
output eventGridNamespaceName string = eventGrid.outputs.namespaceName
output mqttHostname string = eventGrid.outputs.mqttHostname
output eventHubsNamespace string = eventHubs.outputs.namespaceHost
output cosmosEndpoint string = cosmos.outputs.endpoint
output keyVaultName string = keyVault.outputs.name
output storageAccountName string = storage.outputs.accountName
