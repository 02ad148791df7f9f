namespace SmartPower.Api;

/// <summary>How every host reads a request body for the handlers.</summary>
public static class RequestBody
{
    /// <summary>The body, read up to one byte past <see cref="StatusApi.MaxBodyBytes"/> (so that the handlers can refuse a larger one).</summary>
    public static async Task<ReadOnlyMemory<byte>> ReadAsync(Stream body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        var buffer = new byte[StatusApi.MaxBodyBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false)) > 0)
        {
            length += read;
        }

        return buffer.AsMemory(0, length);
    }
}
