using System.Globalization;
using SmartPower.Alerts;
using Xunit.Abstractions;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// One line per fault or abuse case of the reliability campaign: alerts expected (the engine's own run of the same
/// input), stored, lost and duplicated, and what was refused or counted. Printed to the test's output, and appended to
/// the file named by <c>SMARTPOWER_RELIABILITY_REPORT</c> when set (<c>harness/reliability.sh</c> prints them as a table).
/// </summary>
internal static class ReliabilityReport
{
    private static readonly Lock Gate = new();

    /// <summary>Compares stored alerts with the expected ones: lost = expected ids not stored, duplicated = extra ids or second <c>opened</c> entries.</summary>
    public static (int Lost, int Duplicated) Compare(IReadOnlyDictionary<string, Alert> expected, IReadOnlyList<string> storedIds, IReadOnlyDictionary<string, int> openedEntries)
    {
        var lost = expected.Keys.Count(id => !storedIds.Contains(id));
        var duplicated = storedIds.Count(id => !expected.ContainsKey(id)) + storedIds.Count - storedIds.Distinct().Count()
            + openedEntries.Values.Sum(n => Math.Max(0, n - 1));
        return (lost, duplicated);
    }

    public static void Record(ITestOutputHelper output, string @case, int expected, int stored, int lost, int duplicated, string detail) =>
        Write(output, string.Join('\t', @case, expected.ToString(CultureInfo.InvariantCulture), stored.ToString(CultureInfo.InvariantCulture),
            lost.ToString(CultureInfo.InvariantCulture), duplicated.ToString(CultureInfo.InvariantCulture), detail));

    /// <summary>A case about refusals alone (no alerts to count).</summary>
    public static void Record(ITestOutputHelper output, string @case, string detail) => Write(output, string.Join('\t', @case, "-", "-", "-", "-", detail));

    private static void Write(ITestOutputHelper output, string line)
    {
        output.WriteLine("reliability: " + line);
        if (Environment.GetEnvironmentVariable("SMARTPOWER_RELIABILITY_REPORT") is { Length: > 0 } path)
        {
            lock (Gate)
            {
                File.AppendAllText(path, line + "\n");
            }
        }
    }
}
