using System.Text;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;

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

    /// <summary>Counts what became of one message.</summary>
    internal void Count(ProcessResult result)
    {
        switch (result.Outcome)
        {
            case MessageOutcome.Accepted:
                Accepted++;
                break;
            case MessageOutcome.Status:
                StatusMessages++;
                break;
            case MessageOutcome.Duplicate:
                Duplicates++;
                break;
            default:
                _rejected[(int)result.Failure.Reason]++;
                break;
        }
    }

    /// <summary>Adds another report's message counts (a partition's) to this one.</summary>
    internal void Absorb(ReplayReport other)
    {
        Accepted += other.Accepted;
        StatusMessages += other.StatusMessages;
        Duplicates += other.Duplicates;
        for (var i = 0; i < _rejected.Length; i++)
        {
            _rejected[i] += other._rejected[i];
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
