// Compiled only without -p:AzureTriggers=true (see SmartPower.Functions.csproj). Attribute declarations only, with the
// names, constructors and properties of Microsoft.Azure.Functions.Worker.Extensions.EventHubs and .CosmosDB, which the
// development mirror does not serve: the trigger functions compile and are unit-tested here, and the Azure build uses
// the official packages instead. Nothing here runs a trigger.
namespace Microsoft.Azure.Functions.Worker;

/// <summary>Stands in for the Event Hubs extension's trigger attribute (declaration only).</summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class EventHubTriggerAttribute(string eventHubName) : Attribute
{
    public string EventHubName { get; } = eventHubName;

    public string? Connection { get; set; }

    public string? ConsumerGroup { get; set; }

    public bool IsBatched { get; set; } = true;
}

/// <summary>Stands in for the Cosmos DB extension's trigger attribute (declaration only).</summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class CosmosDBTriggerAttribute(string databaseName, string containerName) : Attribute
{
    public string DatabaseName { get; } = databaseName;

    public string ContainerName { get; } = containerName;

    public string? Connection { get; set; }

    public string? LeaseContainerName { get; set; }

    public bool CreateLeaseContainerIfNotExists { get; set; }

    public string? LeaseContainerPrefix { get; set; }
}
