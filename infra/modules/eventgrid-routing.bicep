// Routing MQTT messages to Event Hubs: the namespace routes every published message to its 'telemetry' topic, and an
// event subscription pushes them to the telemetry hub with the namespace's identity (Azure Event Hubs Data Sender,
// modules/roles.bicep, which is why this comes after it). The MQTT topic (the CloudEvent's subject) is delivered as
// the 'topic' property, which the detection step reads (functions/SmartPower.EventHubs/TelemetryEvents.cs) and from
// which the device's partition key follows.
param name string
param location string
param tags object
param routeTopicName string
param eventHubNamespaceName string
param eventHubName string

@description('MQTT throughput units (1 TU: 10,000 sessions, 1,000 publishes/s in).')
param throughputUnits int

@description('Sessions one authentication name may hold: every Functions instance connects as the app\'s client, each with its own client id.')
param appSessions int

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  name: '${eventHubNamespaceName}/${eventHubName}'
}

// The same namespace as modules/eventgrid.bicep, now with routing switched on (the route topic exists by now).
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
      routeTopicResourceId: resourceId('Microsoft.EventGrid/namespaces/topics', name, routeTopicName)
      // Each routed message carries the publishing client's authentication name (the device id, which its certificate
      // proves) as the CloudEvent attribute 'deviceid', from which the delivery below takes the Event Hubs partition key.
      routingEnrichments: {
        dynamic: [
          {
            key: 'deviceid'
            value: '\${client.authenticationName}'
          }
        ]
      }
    }
  }
}

resource routeTopic 'Microsoft.EventGrid/namespaces/topics@2025-02-15' existing = {
  parent: namespace
  name: routeTopicName
}

resource toEventHubs 'Microsoft.EventGrid/namespaces/topics/eventSubscriptions@2025-02-15' = {
  parent: routeTopic
  name: 'to-event-hubs'
  properties: {
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    // The namespace routes every published message, the app's own stop-port commands too: only what devices send
    // (telemetry and status) goes on to the hub, where a command would be rejected as an unknown topic.
    filtersConfiguration: {
      filters: [
        {
          key: 'subject'
          operatorType: 'StringNotEndsWith'
          values: ['/command']
        }
      ]
    }
    deliveryConfiguration: {
      deliveryMode: 'Push'
      push: {
        maxDeliveryCount: 10
        eventTimeToLive: 'P1D'
        deliveryWithResourceIdentity: {
          identity: {
            type: 'SystemAssigned'
          }
          destination: {
            endpointType: 'EventHub'
            properties: {
              resourceId: hub.id
              deliveryAttributeMappings: [
                // Partition key = device id, as the bridge sets it: a device's messages (telemetry and status) all go
                // to one partition, in order, and only that partition's owner writes the device's state.
                {
                  name: 'PartitionKey'
                  type: 'Dynamic'
                  properties: {
                    sourceField: 'deviceid'
                  }
                }
                {
                  name: 'topic'
                  type: 'Dynamic'
                  properties: {
                    sourceField: 'subject'
                  }
                }
              ]
            }
          }
        }
      }
    }
  }
}
