using SmartPower.Cosmos;

namespace SmartPower.Azure.Tests;

/// <summary>Tests over <see cref="Night"/> with a Cosmos DB store of their own on the test server (a fresh database each).</summary>
public abstract class CosmosNightTests : IAsyncLifetime
{
    internal CosmosStoreOptions Options { get; } = new();

    internal Night Night { get; } = new();

    internal CosmosStore Store { get; private set; } = null!;

    public virtual async Task InitializeAsync() => Store = await CosmosServer.NewStoreAsync(Night.Registry, Options);

    public virtual Task DisposeAsync() => CosmosServer.DropAsync(Options);
}
