using System.Collections.Concurrent;

namespace SmartPower.Cosmos;

/// <summary>
/// The request units a store's requests cost, as the server reported them (the <c>x-ms-request-charge</c> header of
/// each response), with the number of requests and the bytes written, by operation. Thread-safe.
/// </summary>
public sealed class RequestCharges
{
    private readonly ConcurrentDictionary<string, Totals> _byOperation = new(StringComparer.Ordinal);

    /// <summary>Request units, requests and document bytes written of one kind of operation.</summary>
    public sealed record Snapshot(string Operation, double RequestUnits, long Requests, long BytesWritten);

    public void Add(string operation, double requestUnits, long bytesWritten)
    {
        var totals = _byOperation.GetOrAdd(operation, static _ => new Totals());
        lock (totals)
        {
            totals.RequestUnits += requestUnits;
            totals.Requests++;
            totals.BytesWritten += bytesWritten;
        }
    }

    public double TotalRequestUnits => Read().Sum(s => s.RequestUnits);

    public long TotalRequests => Read().Sum(s => s.Requests);

    public IReadOnlyList<Snapshot> Read()
    {
        var result = new List<Snapshot>();
        foreach (var (operation, totals) in _byOperation)
        {
            lock (totals)
            {
                result.Add(new Snapshot(operation, totals.RequestUnits, totals.Requests, totals.BytesWritten));
            }
        }

        return [.. result.OrderBy(s => s.Operation, StringComparer.Ordinal)];
    }

    public void Reset() => _byOperation.Clear();

    private sealed class Totals
    {
        public double RequestUnits;
        public long Requests;
        public long BytesWritten;
    }
}
