using System.Text;
using System.Text.Json;
using Microsoft.Azure.Cosmos;
using SmartPower.Alerts;
using SmartPower.Api;
using SmartPower.Pipeline;

namespace SmartPower.Cosmos;

/// <summary>
/// What the status API reads and records. Everything is a point operation (an alert and its history by id, a device,
/// acknowledging and resolving) except two queries: a site's devices (one logical partition of <c>devices</c>) and the
/// alert listings below (on the indexed fields of <c>alerts</c>, sorted by the composite index).
/// </summary>
public sealed partial class CosmosStore : IStatusStore
{
    /// <summary>
    /// Alerts of the query's sites matching its filters, newest first (<c>openedAt</c> descending, then id), paged by
    /// keyset as the SQLite store does: one query, which the server answers from the indexes (the alert bodies and
    /// histories are not indexed).
    /// </summary>
    public async Task<IReadOnlyList<StoredAlert>> QueryAlertsAsync(AlertQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.SiteIds.Count == 0 || query.Limit <= 0)
        {
            return [];
        }

        var definition = AlertQueryDefinition(query);
        var found = new List<StoredAlert>(Math.Min(query.Limit, 500));
        using var iterator = _alerts.GetItemQueryStreamIterator(definition, requestOptions: new QueryRequestOptions { MaxItemCount = query.Limit });
        while (iterator.HasMoreResults && found.Count < query.Limit)
        {
            using var page = await iterator.ReadNextAsync(cancellationToken).ConfigureAwait(false);
            Charges.Add("alert.query", page.Headers.RequestCharge, 0);
            page.EnsureSuccessStatusCode();
            using var json = await JsonDocument.ParseAsync(page.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
            found.AddRange(json.RootElement.GetProperty("Documents").EnumerateArray().Select(StoredAlertOf));
        }

        return found.Count > query.Limit ? found[..query.Limit] : found;
    }

    Task<StoredAlert?> IStatusStore.GetAlertAsync(string alertId, CancellationToken cancellationToken) => GetAlertAsync(alertId, cancellationToken);

    Task<IReadOnlyList<StoredTransition>> IStatusStore.GetTransitionsAsync(string alertId, CancellationToken cancellationToken) => GetTransitionsAsync(alertId, cancellationToken);

    Task<IReadOnlyList<StoredDevice>> IStatusStore.GetDevicesAsync(string siteId, CancellationToken cancellationToken) => GetDevicesAsync(siteId, cancellationToken);

    Task<StoredDevice?> IStatusStore.GetDeviceAsync(string deviceId, CancellationToken cancellationToken) => GetDeviceAsync(deviceId, cancellationToken);

    Task<HumanActOutcome> IStatusStore.AcknowledgeAsync(string alertId, string actor, string? note, CancellationToken cancellationToken) => AcknowledgeAsync(alertId, actor, note, cancellationToken);

    Task<HumanActOutcome> IStatusStore.ResolveAsync(string alertId, string actor, string? note, CancellationToken cancellationToken) => ResolveAsync(alertId, actor, note, cancellationToken);

    /// <summary>The listing's query: the text and parameters, kept apart so that a test can read what is asked.</summary>
    public static QueryDefinition AlertQueryDefinition(AlertQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder("SELECT * FROM c WHERE c.siteId IN (");
        var parameters = new List<(string Name, object Value)>();
        var i = 0;
        foreach (var site in query.SiteIds.Order(StringComparer.Ordinal))
        {
            sql.Append(i == 0 ? "" : ", ").Append("@s").Append(i);
            parameters.Add(("@s" + i++, site));
        }

        sql.Append(')');
        void Where(string condition, string name, object? value)
        {
            if (value is not null)
            {
                sql.Append(" AND ").Append(condition);
                parameters.Add((name, value));
            }
        }

        Where("c.deviceId = @device", "@device", query.DeviceId);
        Where("c.state = @state", "@state", query.State is { } state ? AlertNames.Of(state) : null);
        Where("c.type = @type", "@type", query.Type is { } type ? AlertNames.Of(type) : null);
        Where("c.severity = @severity", "@severity", query.Severity is { } severity ? AlertNames.Of(severity) : null);

        // A station's list: critical alerts, and warnings escalation raised to the station (raisedToStationAt, set by
        // the escalation timer's step and absent otherwise; indexed). A severity asked for narrows it as locally.
        if (query.CriticalOrRaisedToStation)
        {
            sql.Append(" AND (c.severity = @critical OR IS_DEFINED(c.raisedToStationAt))");
            parameters.Add(("@critical", AlertNames.Of(Severity.Critical)));
        }

        Where("c.openedAt >= @from", "@from", query.From?.ToUnixTimeMilliseconds());
        Where("c.openedAt < @to", "@to", query.To?.ToUnixTimeMilliseconds());
        if (query.After is { } after)
        {
            sql.Append(" AND (c.openedAt < @afterAt OR (c.openedAt = @afterAt AND c.id > @afterId))");
            parameters.Add(("@afterAt", after.OpenedAtMs));
            parameters.Add(("@afterId", after.AlertId));
        }

        if (query.UnresolvedOnly)
        {
            sql.Append(" AND (NOT IS_DEFINED(c.resolvedAt) OR IS_NULL(c.resolvedAt))");
        }

        sql.Append(" ORDER BY c.openedAt DESC, c.id ASC OFFSET 0 LIMIT @limit");
        parameters.Add(("@limit", query.Limit));
        var definition = new QueryDefinition(sql.ToString());
        foreach (var (name, value) in parameters)
        {
            definition.WithParameter(name, value);
        }

        return definition;
    }
}
