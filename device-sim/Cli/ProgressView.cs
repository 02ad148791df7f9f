using System.Globalization;
using SmartPower.DeviceSim.Mqtt;
using SmartPower.DeviceSim.Simulation;
using Spectre.Console;

namespace SmartPower.DeviceSim.Cli;

/// <summary>
/// What a long run shows while it runs: messages sent, rate, connection errors, incidents injected so far. A live
/// Spectre.Console table on a terminal; a plain line every 10 s when output is redirected.
/// </summary>
internal static class ProgressView
{
    public static async Task ShowWhileAsync(LiveRun live, NightRun night, bool interactive, TextWriter stdout, TimeProvider time, Task run)
    {
        if (!interactive)
        {
            var last = (Sent: 0L, At: time.GetTimestamp());
            while (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10), time)).ConfigureAwait(false) != run)
            {
                last = Line(live, night, time, last, stdout);
            }

            await run.ConfigureAwait(false);
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).Title("device-sim run").HideHeaders().AddColumn("").AddColumn(new TableColumn("").RightAligned());
        await AnsiConsole.Live(table).StartAsync(async ctx =>
        {
            var last = (Sent: 0L, At: time.GetTimestamp());
            do
            {
                var s = live.Stats;
                var rate = (s.Sent - last.Sent) / Math.Max(time.GetElapsedTime(last.At).TotalSeconds, 1e-3);
                last = (s.Sent, time.GetTimestamp());
                table.Rows.Clear();
                table.AddRow("simulated time", $"{night.Start.AddMilliseconds(night.SimulatedMs):yyyy-MM-dd HH:mm:ss}Z ({Percent(night)})");
                table.AddRow("devices connected", $"{s.Connected:N0} of {live.Devices:N0}");
                table.AddRow("messages sent", $"{s.Sent:N0}");
                table.AddRow("rate", string.Create(CultureInfo.InvariantCulture, $"{rate:N0}/s"));
                table.AddRow("queued", $"{s.Queued:N0}");
                table.AddRow("connection errors", s.LastConnectionError is { } why ? $"{s.ConnectionErrors:N0} (last: {Markup.Escape(why)})" : $"{s.ConnectionErrors:N0}");
                table.AddRow("incidents injected", $"{live.IncidentsInjected:N0}");
                table.AddRow("commands received", $"{s.Commands:N0}");
                ctx.Refresh();
            }
            while (await Task.WhenAny(run, Task.Delay(TimeSpan.FromMilliseconds(500), time)).ConfigureAwait(false) != run);
        }).ConfigureAwait(false);
        await run.ConfigureAwait(false);
    }

    private static (long Sent, long At) Line(LiveRun live, NightRun night, TimeProvider time, (long Sent, long At) last, TextWriter stdout)
    {
        var s = live.Stats;
        var rate = (s.Sent - last.Sent) / Math.Max(time.GetElapsedTime(last.At).TotalSeconds, 1e-3);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Percent(night)} sent {s.Sent:N0} ({rate:N0}/s), connected {s.Connected:N0}/{live.Devices:N0}, connection errors {s.ConnectionErrors:N0}{(s.LastConnectionError is { } why ? $" (last: {why})" : "")}, incidents injected {live.IncidentsInjected:N0}"));
        return (s.Sent, time.GetTimestamp());
    }

    private static string Percent(NightRun night) =>
        string.Create(CultureInfo.InvariantCulture, $"{100.0 * night.SimulatedMs / Math.Max(1, night.DurationMs):F0}%");
}
