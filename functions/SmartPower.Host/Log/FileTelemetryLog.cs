using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;
using SmartPower.Pipeline;

namespace SmartPower.Host.Log;

/// <summary>Where and how the local telemetry log keeps its records.</summary>
public sealed class FileTelemetryLogOptions
{
    public string Directory { get; set; } = "smartpower-log";

    /// <summary>Fixed for the life of a log directory: devices map to partitions by hash, so changing it reshuffles them.</summary>
    public int Partitions { get; set; } = 2;

    /// <summary>A partition starts a new segment file past this size; segments wholly checkpointed are deleted.</summary>
    public long SegmentBytes { get; set; } = 64L << 20;

    /// <summary>Appends wait (back-pressure to MQTT) while a partition's consumer is this far behind.</summary>
    public long MaxLagBytes { get; set; } = 64L << 20;

    /// <summary>Messages a partition's next group commit takes before appends wait (while the current one is written).</summary>
    public int WriteQueue { get; set; } = 2048;

    /// <summary>
    /// Whether each write batch is flushed to the disk (fsync) before its messages are acknowledged. Off, a record is
    /// handed to the operating system before the acknowledgement, which survives a killed process but not a power cut.
    /// </summary>
    public bool FlushToDisk { get; set; } = true;
}

/// <summary>
/// The local stand-in for Event Hubs: a partitioned, append-only log of MQTT messages on disk. Each partition is a
/// directory of segment files named by their start position; a record is
/// <c>[u32 length][i64 arrivedAtMs][u16 topicLength][topic][payload]</c> and its position is its byte offset in the
/// partition. One writer task per partition batches appends (group commit) and completes them once durable. A torn
/// record at the end (a crash mid-write) is cut off on open; it was never acknowledged.
/// </summary>
public sealed class FileTelemetryLog : ITelemetryLog, IAsyncDisposable
{
    private readonly FilePartition[] _partitions;

    private FileTelemetryLog(FilePartition[] partitions) => _partitions = partitions;

    public int PartitionCount => _partitions.Length;

    public static FileTelemetryLog Open(FileTelemetryLogOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Partitions, 1);
        System.IO.Directory.CreateDirectory(options.Directory);
        var marker = Path.Combine(options.Directory, "partitions");
        if (File.Exists(marker) && File.ReadAllText(marker).Trim() != options.Partitions.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException(
                $"the log in '{options.Directory}' has {File.ReadAllText(marker).Trim()} partitions, not {options.Partitions}: use the same count or a new directory");
        }

        if (!File.Exists(marker))
        {
            File.WriteAllText(marker, options.Partitions.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        var partitions = new FilePartition[options.Partitions];
        for (var p = 0; p < partitions.Length; p++)
        {
            partitions[p] = new FilePartition(p, Path.Combine(options.Directory, $"p{p}"), options);
        }

        return new FileTelemetryLog(partitions);
    }

    public ITelemetryPartition Partition(int partition) => _partitions[partition];

    /// <summary>Why the last write of some partition failed (disk full), or null when every partition's last write succeeded.</summary>
    public string? Failure => _partitions.Select(p => p.Failure).FirstOrDefault(f => f is not null);

    public ValueTask AppendAsync(TelemetryMessage message, CancellationToken cancellationToken) => PartitionOf(message.DeviceId).AppendAsync(message, cancellationToken);

    public ValueTask<Task> TakeAsync(TelemetryMessage message, CancellationToken cancellationToken) => PartitionOf(message.DeviceId).TakeAsync(message, cancellationToken);

    public void Reopen(string deviceId) => PartitionOf(deviceId).Reopen(deviceId);

    private FilePartition PartitionOf(string deviceId) => _partitions[DevicePartitioner.Of(deviceId, _partitions.Length)];

    /// <summary>Stops taking appends and finishes writing those queued.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var partition in _partitions)
        {
            await partition.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class FilePartition : ITelemetryPartition, IAsyncDisposable
    {
        private const int HeaderBytes = 4 + 8 + 2;
        private const int MaxRecordBytes = 64 * 1024;
        private readonly string _directory;
        private readonly FileTelemetryLogOptions _options;
        private const int MaxBatchBytes = 4 << 20;
        private readonly object _gate = new();
        private readonly SemaphoreSlim _wake = new(0);
        private readonly SortedList<long, string> _segments = [];
        private readonly object _segmentsLock = new();
        private readonly Task _writer;
        private FileStream _active;
        private long _activeStart;
        private long _end;
        private long _consumed;
        private bool _torn;
        private bool _closed;
        private System.Buffers.ArrayBufferWriter<byte> _open = new(1 << 16);
        private int _openCount;
        private List<string> _openDevices = new(1024);
        private readonly HashSet<string> _fenced = new(StringComparer.Ordinal);
        private TaskCompletionSource _openCommit = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly LinkedList<TaskCompletionSource> _waiting = new(); // appends waiting for room, in the order they came
        private TaskCompletionSource _grown = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public FilePartition(int partition, string directory, FileTelemetryLogOptions options)
        {
            Partition = partition;
            _directory = directory;
            _options = options;
            System.IO.Directory.CreateDirectory(directory);
            foreach (var file in System.IO.Directory.GetFiles(directory, "*.seg"))
            {
                _segments.Add(long.Parse(Path.GetFileNameWithoutExtension(file), System.Globalization.CultureInfo.InvariantCulture), file);
            }

            if (_segments.Count == 0)
            {
                _segments.Add(0, SegmentPath(0));
            }

            _activeStart = _segments.Keys[^1];
            _active = OpenSegment(_segments.Values[^1], FileMode.OpenOrCreate);
            _end = _activeStart + ValidLength(_active);
            _active.SetLength(_end - _activeStart); // cut a torn record off the end
            _active.Position = _end - _activeStart;
            _consumed = _segments.Keys[0];
            _writer = Task.Run(WriteLoopAsync);
        }

        public int Partition { get; }

        public long EndPosition => Volatile.Read(ref _end);

        public long StartPosition
        {
            get
            {
                lock (_segmentsLock)
                {
                    return _segments.Keys[0];
                }
            }
        }

        public string? Failure { get; private set; }

        public async ValueTask AppendAsync(TelemetryMessage message, CancellationToken cancellationToken)
        {
            var durable = await EnqueueAsync(message, fenced: false, cancellationToken).ConfigureAwait(false);
            await (cancellationToken.CanBeCanceled ? durable.WaitAsync(cancellationToken) : durable).ConfigureAwait(false);
        }

        public ValueTask<Task> TakeAsync(TelemetryMessage message, CancellationToken cancellationToken) => EnqueueAsync(message, fenced: true, cancellationToken);

        public void Reopen(string deviceId)
        {
            lock (_gate)
            {
                _fenced.Remove(deviceId);
            }
        }

        /// <summary>
        /// Encodes the message into the open group commit at once (the payload is neither kept nor copied anywhere
        /// else); the task returned completes once that commit is durable: one completion a group commit, not one a
        /// message. Waits only while the open commit is full, or other appends wait for room before it (in turn).
        /// </summary>
        private async ValueTask<Task> EnqueueAsync(TelemetryMessage message, bool fenced, CancellationToken cancellationToken)
        {
            LinkedListNode<TaskCompletionSource>? turn = null; // this append's place among those waiting, once it waits
            while (true)
            {
                Task wait;
                lock (_gate)
                {
                    if (_closed || (fenced && _fenced.Contains(message.DeviceId)))
                    {
                        Leave(turn);
                        ObjectDisposedException.ThrowIf(_closed, this);
                        throw new IOException($"log partition {Partition}: a write of {message.DeviceId}'s messages failed; refused until it connects again");
                    }

                    // The open commit counts toward the lag: while the consumer is behind, appends wait (on the devices)
                    // rather than queue here with their arrival time running. They wait in turn, first come first
                    // served, and a newcomer waits behind them: each connection then gets one message in per turn, so
                    // under back-pressure the devices move on through event time together, instead of those whose
                    // next message happens to be read first running minutes ahead (the rest would look silent).
                    if ((turn is null ? _waiting.Count == 0 : _waiting.First == turn) && HasRoom)
                    {
                        Leave(turn);
                        _open.Advance(Encode(message, _open.GetSpan(MaxRecordBytes)[..MaxRecordBytes]));
                        _openDevices.Add(message.DeviceId);
                        if (++_openCount == 1)
                        {
                            _wake.Release(); // once a non-empty commit: the writer takes each one once
                        }

                        return _openCommit.Task;
                    }

                    if (turn is null)
                    {
                        turn = _waiting.AddLast(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                    }
                    else if (turn.Value.Task.IsCompleted)
                    {
                        turn.Value = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously); // woken without room: wait again, still first
                    }

                    wait = turn.Value.Task;
                }

                try
                {
                    await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    lock (_gate)
                    {
                        Leave(turn);
                    }

                    throw;
                }
            }
        }

        private bool HasRoom => _openCount < _options.WriteQueue && _open.WrittenCount < Math.Min(MaxBatchBytes, _options.MaxLagBytes);

        /// <summary>Takes a waiting append out of the line (under the gate); if it was first, the next one's turn comes.</summary>
        private void Leave(LinkedListNode<TaskCompletionSource>? turn)
        {
            if (turn is null)
            {
                return;
            }

            var first = _waiting.First == turn;
            _waiting.Remove(turn);
            if (first)
            {
                WakeFirst();
            }
        }

        /// <summary>The first waiting append tries again (under the gate): room was made, or the one before it left.</summary>
        private void WakeFirst() => _waiting.First?.Value.TrySetResult();

        public async ValueTask<LogBatch> ReadAsync(long position, int maxRecords, TimeSpan wait, CancellationToken cancellationToken)
        {
            NoteConsumed(position);
            if (position >= EndPosition)
            {
                var grown = Volatile.Read(ref _grown).Task;
                if (position >= EndPosition)
                {
                    await Task.WhenAny(grown, Task.Delay(wait, cancellationToken)).ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }

            var end = EndPosition;
            var records = new List<LogRecord>(Math.Min(maxRecords, 1024));
            while (position < end && records.Count < maxRecords)
            {
                var (segmentStart, path) = SegmentOf(position);
                var segmentEnd = Math.Min(end, NextSegmentStart(segmentStart) ?? end);
                if (position >= segmentEnd)
                {
                    position = NextSegmentStart(segmentStart) ?? end;
                    continue;
                }

                var chunk = new byte[(int)Math.Min(segmentEnd - position, 1 << 20)];
                using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
                {
                    var read = RandomAccess.Read(handle, chunk, position - segmentStart);
                    chunk = chunk[..read];
                }

                var offset = 0;
                while (records.Count < maxRecords && offset + HeaderBytes <= chunk.Length)
                {
                    var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(offset));
                    if (offset + 4 + length > chunk.Length)
                    {
                        break; // the rest is in the next chunk
                    }

                    var arrived = BinaryPrimitives.ReadInt64LittleEndian(chunk.AsSpan(offset + 4));
                    var topicLength = BinaryPrimitives.ReadUInt16LittleEndian(chunk.AsSpan(offset + 12));
                    var topic = chunk.AsMemory(offset + HeaderBytes, topicLength);
                    var payload = chunk.AsMemory(offset + HeaderBytes + topicLength, length - 10 - topicLength);
                    records.Add(new LogRecord(position + offset, topic, payload, arrived));
                    offset += 4 + length;
                }

                if (offset == 0)
                {
                    throw new InvalidDataException($"log partition {Partition} has a record at {position} larger than a read: corrupt");
                }

                position += offset;
            }

            return new LogBatch(records, position);
        }

        public void Release(long position)
        {
            lock (_segmentsLock)
            {
                // Delete every segment that ends at or before the position (never the active one).
                while (_segments.Count > 1 && _segments.Keys[1] <= position)
                {
                    File.Delete(_segments.Values[0]);
                    _segments.RemoveAt(0);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            lock (_gate)
            {
                if (!_closed)
                {
                    _closed = true;
                    _wake.Release();
                }
            }

            await _writer.ConfigureAwait(false);
            await _active.DisposeAsync().ConfigureAwait(false);
            _wake.Dispose();
        }

        private void NoteConsumed(long position)
        {
            Volatile.Write(ref _consumed, position);
            if (EndPosition - position < _options.MaxLagBytes)
            {
                Volatile.Read(ref _drained).TrySetResult();
            }
        }

        private async Task WriteLoopAsync()
        {
            var writing = new System.Buffers.ArrayBufferWriter<byte>(1 << 16);
            var writingDevices = new List<string>(1024);
            while (true)
            {
                if (!Volatile.Read(ref _closed))
                {
                    await _wake.WaitAsync().ConfigureAwait(false);
                }

                // Back-pressure: let the consumer catch up before writing more (appends fill the open commit meanwhile,
                // then wait for room).
                while (EndPosition - Volatile.Read(ref _consumed) >= _options.MaxLagBytes && !Volatile.Read(ref _closed))
                {
                    var drained = Volatile.Read(ref _drained);
                    if (EndPosition - Volatile.Read(ref _consumed) >= _options.MaxLagBytes)
                    {
                        await Task.WhenAny(drained.Task, Task.Delay(100)).ConfigureAwait(false);
                    }

                    Interlocked.CompareExchange(ref _drained, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), drained);
                }

                // Take the open commit whole; appends go on into the other buffer while this one is written.
                TaskCompletionSource commit;
                int count;
                lock (_gate)
                {
                    count = _openCount;
                    (writing, _open) = (_open, writing);
                    (writingDevices, _openDevices) = (_openDevices, writingDevices);
                    _open.Clear();
                    _openDevices.Clear();
                    _openCount = 0;
                    commit = _openCommit;
                    _openCommit = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    WakeFirst();
                    if (count == 0 && _closed)
                    {
                        commit.TrySetException(new ObjectDisposedException(nameof(FileTelemetryLog)));
                        return;
                    }
                }

                if (count == 0)
                {
                    continue;
                }

                // A commit is written with one call and flushed: if the disk is full, the file is cut back to the last
                // durable record and every append of the commit fails (not acknowledged, so devices send it again),
                // rather than leave a torn record in the middle of the log for later records to follow.
                try
                {
                    if (_end - _activeStart >= _options.SegmentBytes)
                    {
                        Roll(_end);
                    }

                    if (_torn)
                    {
                        _active.SetLength(_end - _activeStart);
                        _torn = false;
                    }

                    _active.Position = _end - _activeStart;
                    _active.Write(writing.WrittenSpan);
                    _active.Flush(flushToDisk: _options.FlushToDisk);
                    Failure = null;
                }
                catch (Exception ex)
                {
                    Failure = $"log partition {Partition}: {ex.Message}";
                    CutBack();
                    commit.TrySetException(ex);
                    FailOpenCommit(writingDevices)?.TrySetException(ex);
                    continue;
                }

                Volatile.Write(ref _end, _end + writing.WrittenCount);
                var grown = Interlocked.Exchange(ref _grown, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                grown.TrySetResult();
                commit.TrySetResult();
            }
        }

        /// <summary>
        /// After a failed write: its devices' later messages may already wait in the open commit, and must not become
        /// durable ahead of the failed ones (the devices send those again, and a reading older than the last is
        /// dropped). So the open commit fails too, and its devices and the failed write's are refused until they connect
        /// again. Returns the open commit's completion to fail, if it held anything.
        /// </summary>
        private TaskCompletionSource? FailOpenCommit(List<string> failed)
        {
            lock (_gate)
            {
                _fenced.UnionWith(failed);
                if (_openCount == 0)
                {
                    return null;
                }

                _fenced.UnionWith(_openDevices);
                var open = _openCommit;
                _openCommit = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _open.Clear();
                _openDevices.Clear();
                _openCount = 0;
                WakeFirst();
                return open;
            }
        }

        /// <summary>After a failed write: the active segment cut back to its durable records (or, failing that, at the next write).</summary>
        private void CutBack()
        {
            _torn = true;
            try
            {
                _active.SetLength(_end - _activeStart);
                _torn = false;
            }
            catch (IOException)
            {
                // Tried again before the next write; the next write goes right after the durable records either way.
            }
        }

        private static int Encode(in TelemetryMessage message, Span<byte> buffer)
        {
            var topicLength = Encoding.UTF8.GetBytes(message.Topic, buffer[HeaderBytes..]);
            var length = HeaderBytes + topicLength + message.Payload.Length;
            if (topicLength > ushort.MaxValue || length > buffer.Length)
            {
                throw new ArgumentException("message too large for the log", nameof(message));
            }

            BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)(length - 4));
            BinaryPrimitives.WriteInt64LittleEndian(buffer[4..], message.ArrivedAtMs);
            BinaryPrimitives.WriteUInt16LittleEndian(buffer[12..], (ushort)topicLength);
            message.Payload.Span.CopyTo(buffer[(HeaderBytes + topicLength)..]);
            return length;
        }

        private void Roll(long start)
        {
            var path = SegmentPath(start);
            var next = OpenSegment(path, FileMode.OpenOrCreate); // a segment left empty by a failed roll is taken over
            next.SetLength(0);
            _active.Dispose();
            lock (_segmentsLock)
            {
                _segments.Add(start, path);
            }

            _active = next;
            _activeStart = start;
        }

        /// <summary>Unbuffered: every write goes to the OS at once, so a failed one leaves nothing behind to be written later.</summary>
        private static FileStream OpenSegment(string path, FileMode mode) => new(path, mode, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);

        private (long Start, string Path) SegmentOf(long position)
        {
            lock (_segmentsLock)
            {
                for (var i = _segments.Count - 1; i >= 0; i--)
                {
                    if (_segments.Keys[i] <= position)
                    {
                        return (_segments.Keys[i], _segments.Values[i]);
                    }
                }

                throw new InvalidOperationException($"log partition {Partition}: position {position} was released already");
            }
        }

        private long? NextSegmentStart(long start)
        {
            lock (_segmentsLock)
            {
                var i = _segments.IndexOfKey(start);
                return i + 1 < _segments.Count ? _segments.Keys[i + 1] : null;
            }
        }

        private string SegmentPath(long start) => Path.Combine(_directory, $"{start:D20}.seg");

        /// <summary>The length of the file's whole records (a torn last one is not counted).</summary>
        private static long ValidLength(FileStream file)
        {
            Span<byte> header = stackalloc byte[4];
            long at = 0;
            while (at + HeaderBytes <= file.Length)
            {
                file.Position = at;
                file.ReadExactly(header);
                var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
                if (length < HeaderBytes - 4 || length > MaxRecordBytes || at + 4 + length > file.Length)
                {
                    break;
                }

                at += 4 + length;
            }

            return at;
        }
    }
}
