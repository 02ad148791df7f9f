using System.Buffers;

namespace SmartPower.Replay;

/// <summary>
/// Reads newline-separated UTF-8 lines from a stream into one reused buffer. A line longer than the limit
/// is skipped and yielded as an empty memory, so the caller can count it; blank lines are not yielded.
/// Each yielded line is valid until the next is read.
/// </summary>
internal sealed class LineReader(Stream stream, int maxLineBytes) : IEnumerable<ReadOnlyMemory<byte>>
{
    public IEnumerator<ReadOnlyMemory<byte>> GetEnumerator()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1 << 20, maxLineBytes * 2));
        try
        {
            int start = 0, end = 0;
            var skipping = false;
            while (true)
            {
                var newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                if (newline < 0)
                {
                    if (end - start > maxLineBytes)
                    {
                        skipping = true; // too long: drop what we have and keep reading to its end
                        start = end = 0;
                    }

                    if (start > 0)
                    {
                        buffer.AsSpan(start, end - start).CopyTo(buffer);
                        end -= start;
                        start = 0;
                    }

                    var read = stream.Read(buffer, end, buffer.Length - end);
                    if (read == 0)
                    {
                        if (end > start && !skipping)
                        {
                            var last = Trim(buffer.AsMemory(start, end - start));
                            if (!last.IsEmpty)
                            {
                                yield return last; // a blank last line is no line, as a blank line anywhere else
                            }
                        }
                        else if (skipping)
                        {
                            yield return ReadOnlyMemory<byte>.Empty;
                        }

                        yield break;
                    }

                    end += read;
                    continue;
                }

                ReadOnlyMemory<byte> line = buffer.AsMemory(start, newline);
                start += newline + 1;
                if (skipping || newline > maxLineBytes)
                {
                    // Too long, whether or not its end was in the buffer already: refused the same wherever it falls.
                    skipping = false;
                    yield return ReadOnlyMemory<byte>.Empty;
                    continue;
                }

                line = Trim(line);
                if (!line.IsEmpty)
                {
                    yield return line;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    private static ReadOnlyMemory<byte> Trim(ReadOnlyMemory<byte> line)
    {
        var span = line.Span;
        var length = span.Length;
        while (length > 0 && (span[length - 1] == '\r' || span[length - 1] == ' ' || span[length - 1] == '\t'))
        {
            length--;
        }

        return line[..length];
    }
}
