// Event Hubs: the telemetry hub (partitioned by device id) and the detection consumer group. Local auth is off:
// senders (Event Grid, a self-hosted bridge) and the app use Entra ID and role assignments.
param name string
param location string
param tags object
param throughputUnits int
param partitions int

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: throughputUnits
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    isAutoInflateEnabled: true
    maximumThroughputUnits: min(40, throughputUnits * 4)
  }
}

resource telemetry 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: 'telemetry'
  properties: {
    partitionCount: partitions
    messageRetentionInDays: 1
  }
}

resource detection 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: telemetry
  name: 'detection'
}

output namespaceName string = namespace.name
output namespaceHost string = '${namespace.name}.servicebus.windows.net'
output eventHubName string = telemetry.name
output consumerGroup string = detection.name
