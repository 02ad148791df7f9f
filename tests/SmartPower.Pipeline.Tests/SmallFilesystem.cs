using System.Diagnostics;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// A real filesystem of a few megabytes (tmpfs, mounted here: the tests run as root, as CI does) that can be filled to
/// the last byte, so that writes fail with a real ENOSPC (and SQLite with SQLITE_FULL), and emptied again.
/// </summary>
internal sealed class SmallFilesystem : IDisposable
{
    private readonly string _filler;

    private SmallFilesystem(string path)
    {
        Path = path;
        _filler = System.IO.Path.Combine(path, "filler");
    }

    public string Path { get; }

    public static SmallFilesystem Mount(string path, int megabytes)
    {
        Directory.CreateDirectory(path);
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", path);
        if (code != 0)
        {
            throw new InvalidOperationException($"could not mount a {megabytes} MB tmpfs on {path} (the disk-full tests need root, as CI runs): {output}");
        }

        return new SmallFilesystem(path);
    }

    /// <summary>Takes every free byte: a file written until the filesystem says there is no space left.</summary>
    public long Fill()
    {
        var chunk = new byte[64 * 1024];
        long written = 0;
        using var file = new FileStream(_filler, FileMode.Append, FileAccess.Write, FileShare.None, bufferSize: 0);
        foreach (var size in new[] { chunk.Length, 512, 1 })
        {
            try
            {
                while (true)
                {
                    file.Write(chunk.AsSpan(0, size));
                    written += size;
                }
            }
            catch (IOException)
            {
                // Full at this size: go on with smaller writes, for the last few bytes.
            }
        }

        return written;
    }

    /// <summary>Gives the space back.</summary>
    public void Free() => File.Delete(_filler);

    public void Dispose() => Run("umount", "-l", Path);

    private static (int Code, string Output) Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not run {program}");
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }
}
