using Microsoft.Azure.Cosmos;
using SmartPower.Cosmos;
using SmartPower.Registry;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The Cosmos DB test server test.sh starts (@vercel/cosmosdb-server: Cosmos DB's HTTP protocol, in memory, HTTPS with
/// a self-signed certificate), at <c>SMARTPOWER_TEST_COSMOS_ENDPOINT</c>. Without that variable the tests fail: they are
/// never skipped. Each store gets a database of its own.
/// </summary>
internal static class CosmosServer
{
    public const string EndpointVariable = "SMARTPOWER_TEST_COSMOS_ENDPOINT";

    // The server accepts any key; this is the well-known emulator key, not a secret.
    private const string Key = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

    private static readonly Lazy<CosmosClient> Shared = new(() => CreateClient());

    public static CosmosClient Client => Shared.Value;

    /// <param name="fault">A handler of the test's own after the server's quirk (a simulated crash), or none.</param>
    public static CosmosClient CreateClient(RequestHandler? fault = null)
    {
        var endpoint = Environment.GetEnvironmentVariable(EndpointVariable);
        if (string.IsNullOrEmpty(endpoint))
        {
            throw new InvalidOperationException($"{EndpointVariable} is not set: run the tests through ./test.sh, which starts the Cosmos DB test server");
        }

        // Gateway mode (the server speaks HTTP only) and no bulk execution (it cannot take batch requests).
        var options = CosmosStore.ClientOptions(gateway: true, bulk: false);
        options.LimitToEndpoint = true;
        options.HttpClientFactory = () => new HttpClient(new HttpClientHandler
        {
            // The server's certificate is self-signed; this is a throwaway server on loopback.
            ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator,
        });
        options.CustomHandlers.Add(new MissingDocumentQuirk());
        if (fault is not null)
        {
            options.CustomHandlers.Add(fault);
        }

        return new CosmosClient(endpoint, Key, options);
    }

    /// <summary>A store on a fresh database of its own, with every container created.</summary>
    public static async Task<CosmosStore> NewStoreAsync(DeviceRegistry registry, CosmosStoreOptions? options = null, TimeProvider? time = null)
    {
        options ??= new CosmosStoreOptions();
        options.Database = await NewDatabaseAsync();
        await CosmosStore.EnsureCreatedAsync(Client, options);
        return new CosmosStore(Client, registry, options, time);
    }

    /// <summary>
    /// The name of a new database whose requests the server can route. It numbers its databases and writes their
    /// resource ids in plain base64, so one in 64 (the 62nd, the 63rd, ...) gets an id with a '+' or a '/' (Cosmos DB
    /// writes '-' for '/'); the SDK addresses a feed by resource id, the server cannot route a path with that '/' in it,
    /// and the SDK reports "Stale cache for rid". Such a database is left unused, and the next one taken.
    /// </summary>
    private static async Task<string> NewDatabaseAsync()
    {
        while (true)
        {
            var name = "t" + Guid.NewGuid().ToString("N")[..12];
            var created = await Client.CreateDatabaseAsync(name);
            var resourceId = created.Resource.SelfLink.Trim('/')["dbs/".Length..]; // "/dbs/{resource id}/"
            if (resourceId.AsSpan().IndexOfAny('+', '/') < 0)
            {
                return name;
            }
        }
    }

    public static Task DropAsync(CosmosStoreOptions options) => Client.GetDatabase(options.Database).DeleteAsync();

    /// <summary>
    /// The test server answers a point read of a missing document with 500 instead of Cosmos DB's 404, unless the
    /// request carries the cross-partition header, which makes it skip the partition check that fails; a real account
    /// ignores that header on a point read. Test-only: the store handles 404 as Cosmos DB sends it.
    /// </summary>
    private sealed class MissingDocumentQuirk : RequestHandler
    {
        public override Task<ResponseMessage> SendAsync(RequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Get && request.RequestUri.OriginalString.Contains("/docs/", StringComparison.Ordinal))
            {
                request.Headers.Add("x-ms-documentdb-query-enablecrosspartition", "True");
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
