// Cosmos DB (NoSQL API): the database and containers of functions/SmartPower.Cosmos/CosmosSchema.cs (partition keys,
// indexing and TTL chosen there, with the reasons; a test compares the two). Local (key) auth is off: the app uses its
// managed identity with the built-in data contributor role (modules/roles.bicep).
param name string
param location string
param tags object
param maxThroughput int

// Containers: name, partition key, default TTL in seconds (0: off; -1: on, each document sets its own), included
// paths (empty: no index at all).
var containers = [
  {
    name: 'alerts'
    partitionKey: '/id'
    ttl: 0
    indexed: [
      { path: '/siteId/?' }
      { path: '/deviceId/?' }
      { path: '/state/?' }
      { path: '/type/?' }
      { path: '/severity/?' }
      { path: '/openedAt/?' }
      { path: '/resolvedAt/?' }
      { path: '/acknowledgedAt/?' }
      { path: '/escalatedAt/?' }
      { path: '/reAlarmedAt/?' }
      { path: '/raisedToStationAt/?' }
    ]
    composite: [
      [
        { path: '/openedAt', order: 'descending' }
        { path: '/id', order: 'ascending' }
      ]
      [
        { path: '/siteId', order: 'ascending' }
        { path: '/openedAt', order: 'descending' }
      ]
    ]
  }
  {
    name: 'devices'
    partitionKey: '/siteId'
    ttl: 2592000 // 30 days
    indexed: [
      { path: '/watchFrom/?' }
    ]
    composite: []
  }
  {
    name: 'checkpoints'
    partitionKey: '/id'
    ttl: 0
    indexed: []
    composite: []
  }
  {
    name: 'tokens'
    partitionKey: '/id'
    ttl: 0
    indexed: []
    composite: []
  }
  {
    name: 'deadletters'
    partitionKey: '/id'
    ttl: 1209600 // 14 days
    indexed: []
    composite: []
  }
  {
    name: 'apikeys'
    partitionKey: '/id'
    ttl: 0
    indexed: []
    composite: []
  }
  {
    name: 'outbox'
    partitionKey: '/id'
    ttl: -1
    indexed: [
      { path: '/state/?' }
      { path: '/nextAttemptAt/?' }
      { path: '/alertId/?' }
    ]
    composite: []
  }
  {
    // The change feed trigger's leases (notification function).
    name: 'leases'
    partitionKey: '/id'
    ttl: 0
    indexed: []
    composite: []
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: 'smartpower'
  properties: {
    resource: {
      id: 'smartpower'
    }
    options: {
      autoscaleSettings: {
        maxThroughput: maxThroughput
      }
    }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for c in containers: {
    parent: database
    name: c.name
    properties: {
      resource: {
        id: c.name
        partitionKey: {
          paths: [c.partitionKey]
          kind: 'Hash'
        }
        defaultTtl: c.ttl == 0 ? null : c.ttl
        indexingPolicy: empty(c.indexed)
          ? {
              indexingMode: 'none'
              automatic: false
            }
          : {
              indexingMode: 'consistent'
              automatic: true
              includedPaths: c.indexed
              excludedPaths: [{ path: '/*' }]
              compositeIndexes: c.composite
            }
      }
    }
  }
]

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
