using System.Collections.Concurrent;

namespace SmartPower.Cosmos;

/// <summary>
/// The request units a store's requests cost, as the server reported them (the <c>x-ms-request-charge</c> header of
/// each response), with the number of requests and the document bytes they carried (written, or read back), by operation. Thread-safe.
/// </summary>
public sealed class RequestCharges
{
    private readonly ConcurrentDictionary<string, Totals> _byOperation = new(StringComparer.Ordinal);

    /// <summary>Request units, requests and document bytes (a write's body, a read's answer) of one kind of operation.</summary>
    public sealed record Snapshot(string Operation, double RequestUnits, long Requests, long Bytes);

    public void Add(string operation, double requestUnits, long bytes)
    {
        var totals = _byOperation.GetOrAdd(operation, static _ => new Totals());
        lock (totals)
        {
            totals.RequestUnits += requestUnits;
            totals.Requests++;
            totals.Bytes += bytes;
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
                result.Add(new Snapshot(operation, totals.RequestUnits, totals.Requests, totals.Bytes));
            }
        }

        return [.. result.OrderBy(s => s.Operation, StringComparer.Ordinal)];
    }

    public void Reset() => _byOperation.Clear();

    private sealed class Totals
    {
        public double RequestUnits;
        public long Requests;
        public long Bytes;
    }
}
