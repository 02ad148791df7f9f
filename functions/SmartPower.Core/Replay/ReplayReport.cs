using System.Text;
using SmartPower.Alerts;
using SmartPower.Contract;

namespace SmartPower.Replay;

/// <summary>What a replay saw and produced.</summary>
public sealed class ReplayReport
{
    private readonly long[] _rejected = new long[Enum.GetValues<RejectReason>().Length];
    private readonly long[] _alertsByType = new long[Enum.GetValues<AlertType>().Length];

    public long Lines { get; internal set; }

    public long Accepted { get; internal set; }

    public long StatusMessages { get; internal set; }

    public long Duplicates { get; internal set; }

    public long Commands { get; internal set; }

    public TimeSpan Elapsed { get; internal set; }

    public long Rejected => _rejected.Sum();

    public long RejectedFor(RejectReason reason) => _rejected[(int)reason];

    public long AlertsOf(AlertType type) => _alertsByType[(int)type];

    public long Alerts => _alertsByType.Sum();

    public double ReadingsPerSecond => Elapsed.TotalSeconds > 0 ? Accepted / Elapsed.TotalSeconds : 0;

    internal void Add(RejectReason reason, long count) => _rejected[(int)reason] += count;

    internal void Absorb(PartitionCounts counts)
    {
        Accepted += counts.Accepted;
        StatusMessages += counts.Status;
        Duplicates += counts.Duplicates;
        for (var i = 0; i < _rejected.Length; i++)
        {
            _rejected[i] += counts.Rejected[i];
        }
    }

    internal void CountAlert(AlertType type) => _alertsByType[(int)type]++;

    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine($"lines read      {Lines,12:N0}");
        text.AppendLine($"accepted        {Accepted,12:N0}");
        text.AppendLine($"status          {StatusMessages,12:N0}");
        text.AppendLine($"duplicates      {Duplicates,12:N0}");
        text.AppendLine($"rejected        {Rejected,12:N0}");
        foreach (var reason in Enum.GetValues<RejectReason>())
        {
            if (RejectedFor(reason) > 0)
            {
                text.AppendLine($"  {reason,-22}{RejectedFor(reason),8:N0}");
            }
        }

        text.AppendLine($"alerts          {Alerts,12:N0}");
        foreach (var type in Enum.GetValues<AlertType>())
        {
            if (AlertsOf(type) > 0)
            {
                text.AppendLine($"  {AlertNames.Of(type),-22}{AlertsOf(type),8:N0}");
            }
        }

        text.AppendLine($"commands        {Commands,12:N0}");
        text.AppendLine($"elapsed         {Elapsed.TotalMilliseconds,12:N0} ms");
        text.Append($"readings/s      {ReadingsPerSecond,12:N0}");
        return text.ToString();
    }
}
