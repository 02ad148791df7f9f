using System.Text;
using SmartPower.Cosmos;

namespace SmartPower.Azure.Tests;

/// <summary>The Cosmos DB store passes the store contract, for real against the Cosmos DB test server.</summary>
public sealed class CosmosStoreTests : StoreContractTests
{
    private readonly CosmosStoreOptions _options = new();
    private CosmosStore _store = null!;

    protected override IPipelineStore Store => _store;

    protected override IDeviceCredentials Credentials => _store;

    public override async Task InitializeAsync() => _store = await CosmosServer.NewStoreAsync(new Feed().Registry, _options);

    public override Task DisposeAsync() => CosmosServer.DropAsync(_options);

    protected override Task<StoredAlert?> GetAlertAsync(string alertId) => _store.GetAlertAsync(alertId);

    protected override Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId) => _store.GetTransitionsAsync(alertId);

    protected override Task<StoredDevice?> GetDeviceAsync(string deviceId) => _store.GetDeviceAsync(deviceId);

    protected override Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note) => _store.AcknowledgeAsync(alertId, actor, note);

    protected override Task<HumanActOutcome> ResolveAsync(string alertId, string actor, string? note) => _store.ResolveAsync(alertId, actor, note);

    protected override async Task<string> StoredTokenTextAsync(string deviceId)
    {
        using var response = await CosmosServer.Client.GetContainer(_options.Database, CosmosSchema.Tokens).ReadItemStreamAsync(deviceId, new Microsoft.Azure.Cosmos.PartitionKey(deviceId));
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(response.Content, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }
}
