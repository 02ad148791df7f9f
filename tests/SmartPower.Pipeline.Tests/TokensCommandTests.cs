using SmartPower.Host;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>The operator's <c>tokens</c> command: issued tokens work, are printed once in the simulator's format, and revoke.</summary>
public sealed class TokensCommandTests : IDisposable
{
    private readonly TempDirectory _directory = new("tokens");

    [Fact]
    public async Task Issue_prints_device_colon_token_lines_that_verify_until_revoked()
    {
        var registry = _directory.File("registry.json");
        await File.WriteAllTextAsync(registry, Feed.RegistryJson);
        var db = _directory.File("store.db");
        var output = new StringWriter();
        Assert.Equal(CommandLine.Ok, CommandLine.Run(["tokens", "issue", "--db", db, "--registry", registry], output, TextWriter.Null));
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')).ToArray();
        Assert.Equal(["m-0001", "m-0002", "m-0100", "p-0001"], lines.Select(l => l[0]).Order(StringComparer.Ordinal));

        Assert.Equal(CommandLine.Ok, CommandLine.Run(["tokens", "revoke", "--db", db, "--device", "m-0002"], TextWriter.Null, TextWriter.Null));
        await using var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db });
        Assert.True(await store.VerifyAsync("m-0001", lines.Single(l => l[0] == "m-0001")[1], CancellationToken.None));
        Assert.False(await store.VerifyAsync("m-0002", lines.Single(l => l[0] == "m-0002")[1], CancellationToken.None));
    }

    [Fact]
    public void Bad_calls_are_usage_errors()
    {
        var error = new StringWriter();
        Assert.Equal(CommandLine.Usage, CommandLine.Run(["tokens", "rotate"], TextWriter.Null, error));
        Assert.Equal(CommandLine.Usage, CommandLine.Run(["tokens", "revoke", "--db", _directory.File("x.db")], TextWriter.Null, error));
        Assert.Contains("--device", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("replay", "--help")]
    [InlineData("tokens", "issue", "-h")]
    public void A_command_asked_for_help_prints_the_usage_and_succeeds(params string[] args)
    {
        var output = new StringWriter();
        Assert.Equal(CommandLine.Ok, CommandLine.Run(args, output, TextWriter.Null));
        Assert.Contains("smartpower replay --registry FILE", output.ToString(), StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Dispose();
}
