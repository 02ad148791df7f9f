using System.Diagnostics.Metrics;
using SmartPower.Pipeline;

namespace SmartPower.Host;

/// <summary>
/// Status API requests refused, by reason: no valid key (401, <c>unauthenticated</c>), a role that may not use the
/// endpoint (403, <c>forbidden</c>), something out of scope or absent (404, <c>not-found</c>: the two are answered
/// alike on purpose), a bad request (400). Counted as <c>smartpower.api.refused</c> and shown in <c>/health</c>, so
/// that forged keys and probing across tenants show up. Thread-safe.
/// </summary>
public sealed class ApiRefusals : IDisposable
{
    private static readonly (int Status, string Reason)[] Reasons = [(400, "bad-request"), (401, "unauthenticated"), (403, "forbidden"), (404, "not-found")];
    private readonly long[] _counts = new long[Reasons.Length];
    private readonly Meter _meter = new(PipelineMetrics.MeterName);

    public ApiRefusals() =>
        _meter.CreateObservableCounter("smartpower.api.refused", Observe, "{request}", "Status API requests refused, by reason");

    /// <summary>Counts an answer of the API with <paramref name="status"/> if it is a refusal.</summary>
    public void Count(int status)
    {
        for (var i = 0; i < Reasons.Length; i++)
        {
            if (Reasons[i].Status == status)
            {
                Interlocked.Increment(ref _counts[i]);
            }
        }
    }

    public long RefusedFor(string reason) => Interlocked.Read(ref _counts[Array.FindIndex(Reasons, r => r.Reason == reason)]);

    /// <summary>Refusals by reason, only reasons seen.</summary>
    public IReadOnlyDictionary<string, long> ByReason()
    {
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < Reasons.Length; i++)
        {
            if (Interlocked.Read(ref _counts[i]) is > 0 and var n)
            {
                result[Reasons[i].Reason] = n;
            }
        }

        return result;
    }

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<long>> Observe()
    {
        for (var i = 0; i < Reasons.Length; i++)
        {
            yield return new Measurement<long>(Interlocked.Read(ref _counts[i]), new KeyValuePair<string, object?>("reason", Reasons[i].Reason));
        }
    }
}
