using SmartPower.Registry;

namespace SmartPower.Api;

// What the API serves, as JSON (camelCase, times in the contract's RFC 3339 UTC with milliseconds). An alert keeps
// the contract's fields and adds what people did about it and where it is, so a reader can dispatch from it alone.

/// <summary>A compound, as much of it as the API shows.</summary>
public sealed record SiteView(string SiteId, string Name, string? Address, string? FireStation, string? ManagerId, string? TimeZone);

/// <summary>Where an alert is: the compound's name and address (its location within is the alert's <c>location</c>).</summary>
public sealed record PlaceView(string Name, string? Address, string? FireStation);

/// <summary>A person's acknowledgement or resolution.</summary>
public sealed record HumanActView(DateTimeOffset At, string By);

/// <summary>An alert in the contract's format, with <c>storedAt</c> (wall clock), people's acts, the site and the device's location.</summary>
public sealed record AlertView(
    string AlertId,
    string Type,
    string Severity,
    string DeviceId,
    string SiteId,
    int? Port,
    DateTimeOffset OpenedAt,
    DateTimeOffset? ClearedAt,
    string State,
    IReadOnlyDictionary<string, double> Evidence,
    DateTimeOffset StoredAt,
    HumanActView? Acknowledged,
    HumanActView? Resolved,
    PlaceView? Site,
    Location? Location);

/// <summary>One page of alerts; <c>continuationToken</c> fetches the next (absent on the last page).</summary>
public sealed record AlertPage(IReadOnlyList<AlertView> Items, string? ContinuationToken);

/// <summary>One entry of an alert's history: any kind the store records (opened, updated, cleared, acknowledged, resolved, ...).</summary>
public sealed record HistoryEntryView(
    string Kind,
    DateTimeOffset At,
    DateTimeOffset StoredAt,
    string Severity,
    string State,
    IReadOnlyDictionary<string, double> Evidence,
    string? Actor,
    string? Note);

/// <summary>An alert with its history, oldest first.</summary>
public sealed record AlertDetail(AlertView Alert, IReadOnlyList<HistoryEntryView> History);

/// <summary>One port of a pile reading.</summary>
public sealed record PortView(int Port, string State, double PowerW);

/// <summary>A device's latest accepted reading.</summary>
public sealed record ReadingView(
    DateTimeOffset Ts,
    long Seq,
    double VoltageV,
    double? CurrentA,
    double? PowerW,
    double? LeakageMa,
    double? TempC,
    bool ArcFault,
    IReadOnlyList<PortView>? Ports);

/// <summary>
/// A device's status: online or not, when last heard (wall clock), its latest reading, a meter's load as a share of
/// its breaker rating (<c>currentA / ratedCurrentA</c>, 1.0 = at the rating), a pile's charging ports, its open alerts.
/// </summary>
public sealed record DeviceView(
    string DeviceId,
    string SiteId,
    string Kind,
    string Circuit,
    Location? Location,
    bool Online,
    DateTimeOffset? HeardAt,
    ReadingView? LatestReading,
    double? RatedCurrentA,
    double? Load,
    int? PortCount,
    int? ChargingPorts,
    IReadOnlyList<string> OpenAlertIds);

/// <summary>Open alerts by severity.</summary>
public sealed record SeverityCounts(int Critical, int Warning);

/// <summary>A compound's status at a glance, then device by device.</summary>
public sealed record SiteStatus(SiteView Site, int DevicesOnline, int DevicesOffline, SeverityCounts OpenAlerts, IReadOnlyList<DeviceView> Devices);

/// <summary>Body of <c>ack</c> and <c>resolve</c>: who acts (a person's name; the key's name if absent) and why.</summary>
public sealed record ActRequest(string? Actor, string? Note);

/// <summary>Body of <c>POST /api/v1/keys</c>.</summary>
public sealed record ApiKeyRequest(string? Role, string? Scope, string? Name);

/// <summary>The calling key: who it is, its role and scope.</summary>
public sealed record CallerView(string KeyId, string Name, string Role, string? Scope);

/// <summary>An API key without its secret.</summary>
public sealed record ApiKeyView(string KeyId, string Name, string Role, string? Scope, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>A newly issued API key: <c>apiKey</c> is shown this once and stored only as a hash.</summary>
public sealed record IssuedApiKey(ApiKeyView Key, string ApiKey);

/// <summary>A newly issued device token (the device's MQTT password), shown this once.</summary>
public sealed record IssuedDeviceToken(string DeviceId, string Token);

/// <summary>How many credentials a revocation ended.</summary>
public sealed record Revocation(int Revoked);

/// <summary>The console stream's first event: the station's listed alerts now, and the server's clock to measure ages by.</summary>
public sealed record StationSnapshot(string FireStation, DateTimeOffset ServerTime, IReadOnlyList<AlertView> Alerts);

/// <summary>A console stream event: an alert that left the list (cleared, resolved) or the stream's heartbeat.</summary>
public sealed record StationNotice(string? AlertId, DateTimeOffset ServerTime);
