using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SmartPower.Api.Access;
using SmartPower.Cosmos;

namespace SmartPower.Functions;

/// <summary>
/// At start-up, the first admin key from <see cref="SmartPowerSettings.AdminKeySha256"/> (its hash only): added once,
/// never again after it is revoked. A failure is logged and does not stop the app (it is tried at the next start).
/// </summary>
public sealed class AdminKeyBootstrap(SmartPowerSettings settings, CosmosStore store, TimeProvider time, ILogger<AdminKeyBootstrap> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings.AdminKeySha256.Length == 0)
        {
            return;
        }

        try
        {
            var hash = Convert.FromHexString(settings.AdminKeySha256.Trim());

            // An id of its own for each bootstrap hash: an operator who sets a new one after the first was revoked must
            // be able to revoke the new one too (one id for both, and revocation found the revoked one first).
            var keyId = $"k-bootstrap-{Convert.ToHexStringLower(hash)[..8]}";
            var added = await store.EnsureApiKeyAsync(new ApiKey(keyId, "bootstrap admin", Role.Admin, null, time.GetUtcNow()), hash, cancellationToken).ConfigureAwait(false);
            if (added)
            {
                logger.LogInformation("the bootstrap admin key is stored as {KeyId}", keyId);
            }
        }
        catch (Exception ex) when (ex is FormatException or Microsoft.Azure.Cosmos.CosmosException or HttpRequestException)
        {
            logger.LogError(ex, "the bootstrap admin key could not be stored");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
