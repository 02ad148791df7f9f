namespace SmartPower.Functions;

/// <summary>
/// The app's settings (section <c>SmartPower</c>: app settings <c>SmartPower__CosmosEndpoint</c> and so on). No secrets:
/// every service is reached with the app's managed identity. The triggers' own connections are identity-based too
/// (<c>EventHubs__fullyQualifiedNamespace</c>, <c>Cosmos__accountEndpoint</c>, <c>AzureWebJobsStorage__accountName</c>).
/// </summary>
public sealed class SmartPowerSettings
{
    public const string Section = "SmartPower";

    /// <summary>The Cosmos DB account endpoint, <c>https://ACCOUNT.documents.azure.com:443/</c>.</summary>
    public string CosmosEndpoint { get; set; } = "";

    public string Database { get; set; } = "smartpower";

    /// <summary>The device registry (the contract's registry JSON), deployed with the app; a relative path is taken from the app's folder.</summary>
    public string RegistryPath { get; set; } = "registry.json";

    /// <summary>
    /// The notifications file (the local host's <c>serve --notifications</c> format: webhooks, retry), deployed with the
    /// app; empty: no webhooks, every notification kept as undeliverable.
    /// </summary>
    public string NotificationsPath { get; set; } = "";

    /// <summary>
    /// The same settings as JSON, for the webhooks' secrets to stay in Key Vault (a Key Vault reference); wins over
    /// <see cref="NotificationsPath"/>. A reference Key Vault could not resolve (the secret not set yet) counts as unset.
    /// </summary>
    public string NotificationsJson { get; set; } = "";

    /// <summary>The Event Grid MQTT broker's host name, for stop-port commands; empty: commands are logged, not sent.</summary>
    public string MqttHost { get; set; } = "";

    public int MqttPort { get; set; } = 8883;

    /// <summary>
    /// The app's MQTT client name at the broker (its certificate's subject and its username), allowed to publish command
    /// topics only; each instance's client id is this name and a suffix of its own.
    /// </summary>
    public string MqttClientId { get; set; } = "smartpower-functions";

    /// <summary>
    /// The PKCS#12 client certificate, base64, as a Key Vault reference (<c>@Microsoft.KeyVault(...)</c>); a reference Key
    /// Vault could not resolve counts as unset (commands are then refused by the broker and held).
    /// </summary>
    public string MqttClientCertificate { get; set; } = "";

    /// <summary>
    /// SHA-256 (hex) of a first admin API key the operator made (infra/README.md): added at start-up unless a key with
    /// that hash was ever stored, so that the API can issue the others. Only the hash is configured, never the key.
    /// </summary>
    public string AdminKeySha256 { get; set; } = "";

    /// <summary>The telemetry hub's partition count (infra: 32); the store keeps devices per site and partition.</summary>
    public int EventHubPartitions { get; set; } = 32;

    /// <summary>
    /// How often a console's stream reads its station's list (seconds): the most a change waits before the console
    /// sees it, and one alert query per interval per connected console (infra/README.md's cost model).
    /// </summary>
    public double StreamPollSeconds { get; set; } = 2;

    /// <summary>How long one stream response lasts (seconds) before the console reconnects; under Azure's 230 s HTTP limit.</summary>
    public double StreamSeconds { get; set; } = 200;

    /// <summary>Most devices the watchdog raises in one run.</summary>
    public int WatchdogMaxPerRun { get; set; } = 10_000;
}
