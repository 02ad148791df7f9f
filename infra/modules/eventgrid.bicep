// The Event Grid namespace's MQTT broker: the managed alternative to running a broker and the Event Hubs bridge.
// Devices authenticate with X.509 client certificates (the MQTT username is the device id, the client's authentication
// name); each may publish only its own telemetry and status topics and subscribe only to its own command topic (the
// contract's rule, enforced here by topic templates on the client's authentication name); the app may publish command
// topics only. Routing to Event Hubs is in modules/eventgrid-routing.bicep (it needs the role assignments first).
param name string
param location string
param tags object
param eventHubNamespaceName string
param eventHubName string

@description('MQTT throughput units (1 TU: 10,000 sessions, 1,000 publishes/s in).')
param throughputUnits int

@description('Sessions one authentication name may hold: every Functions instance connects as the app\'s client, each with its own client id.')
param appSessions int

@description('Base64 PEM of the CA that signs device certificates; empty: devices are registered by thumbprint (infra/README.md).')
param deviceCaCertificate string

@description('Thumbprint of the app\'s MQTT client certificate; empty: the app\'s client is registered later (infra/README.md).')
param appCertificateThumbprint string = ''

resource namespace 'Microsoft.EventGrid/namespaces@2025-02-15' = {
  name: name
  location: location
  tags: union(tags, {
    routesTo: '${eventHubNamespaceName}/${eventHubName}'
  })
  sku: {
    name: 'Standard'
    capacity: throughputUnits
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    topicSpacesConfiguration: {
      state: 'Enabled'
      maximumSessionExpiryInHours: 1
      maximumClientSessionsPerAuthenticationName: appSessions
    }
  }
}

// Where routed MQTT messages land before they are pushed to Event Hubs (CloudEvents, subject = the MQTT topic).
resource routeTopic 'Microsoft.EventGrid/namespaces/topics@2025-02-15' = {
  parent: namespace
  name: 'telemetry'
  properties: {
    publisherType: 'Custom'
    inputSchema: 'CloudEventSchemaV1_0'
    eventRetentionInDays: 1
  }
}

resource deviceCa 'Microsoft.EventGrid/namespaces/caCertificates@2025-02-15' = if (!empty(deviceCaCertificate)) {
  parent: namespace
  name: 'device-ca'
  properties: {
    encodedCertificate: deviceCaCertificate
    description: 'Signs SmartPower device certificates (subject CN = device id)'
  }
}

resource devices 'Microsoft.EventGrid/namespaces/clientGroups@2025-02-15' = {
  parent: namespace
  name: 'devices'
  properties: {
    description: 'Meters and charging piles'
    query: 'attributes.role = \'device\''
  }
}

resource services 'Microsoft.EventGrid/namespaces/clientGroups@2025-02-15' = {
  parent: namespace
  name: 'services'
  properties: {
    description: 'SmartPower itself (stop-port commands)'
    query: 'attributes.role = \'service\''
  }
}

resource deviceUplink 'Microsoft.EventGrid/namespaces/topicSpaces@2025-02-15' = {
  parent: namespace
  name: 'device-uplink'
  properties: {
    description: 'A device\'s own telemetry and status topics'
    topicTemplates: [
      'smartpower/v1/+/+/\${client.authenticationName}/telemetry'
      'smartpower/v1/+/+/\${client.authenticationName}/status'
    ]
  }
}

resource deviceCommands 'Microsoft.EventGrid/namespaces/topicSpaces@2025-02-15' = {
  parent: namespace
  name: 'device-commands'
  properties: {
    description: 'A device\'s own command topic'
    topicTemplates: [
      'smartpower/v1/+/+/\${client.authenticationName}/command'
    ]
  }
}

resource allCommands 'Microsoft.EventGrid/namespaces/topicSpaces@2025-02-15' = {
  parent: namespace
  name: 'all-commands'
  properties: {
    description: 'Every device\'s command topic, for the app'
    topicTemplates: [
      'smartpower/v1/+/+/+/command'
    ]
  }
}

resource devicesPublish 'Microsoft.EventGrid/namespaces/permissionBindings@2025-02-15' = {
  parent: namespace
  name: 'devices-publish-uplink'
  properties: {
    clientGroupName: devices.name
    topicSpaceName: deviceUplink.name
    permission: 'Publisher'
  }
}

resource devicesSubscribe 'Microsoft.EventGrid/namespaces/permissionBindings@2025-02-15' = {
  parent: namespace
  name: 'devices-subscribe-commands'
  properties: {
    clientGroupName: devices.name
    topicSpaceName: deviceCommands.name
    permission: 'Subscriber'
  }
}

resource servicesPublish 'Microsoft.EventGrid/namespaces/permissionBindings@2025-02-15' = {
  parent: namespace
  name: 'services-publish-commands'
  properties: {
    clientGroupName: services.name
    topicSpaceName: allCommands.name
    permission: 'Publisher'
  }
}

resource appClient 'Microsoft.EventGrid/namespaces/clients@2025-02-15' = if (!empty(appCertificateThumbprint)) {
  parent: namespace
  name: 'smartpower-functions'
  properties: {
    authenticationName: 'smartpower-functions'
    attributes: {
      role: 'service'
    }
    clientCertificateAuthentication: {
      validationScheme: 'ThumbprintMatch'
      allowedThumbprints: [appCertificateThumbprint]
    }
    state: 'Enabled'
  }
}

output namespaceName string = namespace.name
output principalId string = namespace.identity.principalId
output routeTopicName string = routeTopic.name
output mqttHostname string = namespace.properties.topicSpacesConfiguration.hostname
