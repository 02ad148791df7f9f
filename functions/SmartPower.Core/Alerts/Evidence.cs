namespace SmartPower.Alerts;

/// <summary>One named measurement behind an alert.</summary>
public readonly record struct EvidenceItem(string Name, double Value);

/// <summary>
/// The measurements that justify an alert, in a fixed order, compared by value. Values are rounded to
/// three decimals so that alert JSON is stable and readable.
/// </summary>
public sealed class Evidence : IEquatable<Evidence>
{
    private readonly EvidenceItem[] _items;

    public Evidence(params ReadOnlySpan<EvidenceItem> items)
    {
        _items = new EvidenceItem[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            _items[i] = items[i] with { Value = Math.Round(items[i].Value, 3, MidpointRounding.AwayFromZero) };
        }
    }

    public static Evidence Empty { get; } = new();

    public IReadOnlyList<EvidenceItem> Items => _items;

    public double? this[string name]
    {
        get
        {
            foreach (var item in _items)
            {
                if (item.Name == name)
                {
                    return item.Value;
                }
            }

            return null;
        }
    }

    public bool Equals(Evidence? other) => other is not null && _items.AsSpan().SequenceEqual(other._items);

    public override bool Equals(object? obj) => Equals(obj as Evidence);

    public override int GetHashCode()
    {
        var hash = default(HashCode);
        foreach (var item in _items)
        {
            hash.Add(item);
        }

        return hash.ToHashCode();
    }

    public override string ToString() => string.Join(", ", _items.Select(i => $"{i.Name}={i.Value}"));
}
