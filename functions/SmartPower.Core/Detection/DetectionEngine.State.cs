using System.Buffers;
using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// Checkpoints: everything the engine remembers, saved and restored so that a host that stops (or is killed) resumes
/// exactly where it left off: the same alerts with the same ids, no duplicate let through, no alert raised twice. The
/// bytes are described in one place, <see cref="StateFormat"/>; a blob that cannot be restored throws
/// <see cref="StateFormatException"/> and restores nothing.
/// <para><b>A whole engine</b> (a host checkpointing a partition with its log position): <see cref="SaveState"/> and
/// <see cref="Restore"/>. The engine's own part is the stream clock; the offline queue is rebuilt from the device records.</para>
/// <para><b>One device at a time</b> (a host keeping each device's state in a document store, read before and written after
/// each batch): <see cref="TrySaveDevice"/> and <see cref="RestoreDevice"/>. An engine's state is those same device records
/// plus its clock. The stream clock belongs to the engine, not to a device, so a per-device host must choose:</para>
/// <list type="bullet">
/// <item>keep the clock in a per-partition checkpoint of its own (<see cref="SaveStreamClock"/> after a batch,
/// <see cref="RestoreStreamClock"/> before the next, after restoring the batch's devices): the timestamp window and
/// offline detection continue exactly; or</item>
/// <item>rebuild it from the batch: a fresh engine's clock starts at its first reading, so until it has seen a few devices
/// the timestamp window accepts anything and offline is not raised. Good enough for a host that keeps engines warm and
/// only restores after a restart.</item>
/// </list>
/// Offline is raised only for devices whose state is in the engine: a device that has gone silent is in no batch, so a
/// per-device host that restores only the devices of each batch must keep the others loaded (or check them otherwise).
/// Restored device by device, the offline queue is rebuilt in the order of restoring: devices due offline in the very
/// same millisecond may then be reported in another order among themselves (the same alerts, with the same ids); a whole
/// engine's state keeps that order too. Reading limits are configuration, not state: pass them again on restoring.
/// </summary>
public sealed partial class DetectionEngine
{
    /// <summary>Writes the whole engine's detector state (clock, offline queue, every device) to <paramref name="output"/>.</summary>
    public void SaveState(IBufferWriter<byte> output) => StateFormat.Write(output, StateFormat.Blob.Engine, this, WriteEngine);

    /// <summary>
    /// An engine for <paramref name="registry"/> that continues where the one that wrote <paramref name="state"/> stopped.
    /// The registry may have changed since: a device no longer in it is skipped, and one whose kind (or port count) changed
    /// starts fresh. Throws <see cref="StateFormatException"/> for a blob that is not an engine's state of this version,
    /// or is corrupt or truncated.
    /// </summary>
    public static DetectionEngine Restore(DeviceRegistry registry, ReadOnlySpan<byte> state, ReadingLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var r = StateFormat.Open(state, StateFormat.Blob.Engine);
        var engine = new DetectionEngine(registry, limits);
        var clock = StreamClock.Read(ref r, registry);
        var devices = r.Count(r.Remaining, "the device count");
        for (var i = 0; i < devices; i++)
        {
            var record = new StateReader(r.Bytes(r.Count(r.Remaining, "a device record's length")));
            if (StateFormat.ReadDevice(ref record, registry, null, out var restored) == DeviceRestoreOutcome.Restored)
            {
                if (engine._states[restored!.Device.Index] is not null)
                {
                    throw new StateFormatException($"device '{restored.Device.DeviceId}' is saved twice");
                }

                engine.Install(restored);
            }
        }

        r.End("engine state");
        engine._clock.Restore(clock, engine.ClockStateOf);
        return engine;
    }

    /// <summary>
    /// Writes one device's state to <paramref name="output"/>; false (nothing written) if the device is not in the
    /// registry or the engine holds no state of it (it has sent nothing yet).
    /// </summary>
    public bool TrySaveDevice(string deviceId, IBufferWriter<byte> output)
    {
        if (!_registry.TryGetDevice(deviceId, out var device) || _states[device.Index] is not { } state)
        {
            return false;
        }

        StateFormat.Write(output, StateFormat.Blob.Device, state, StateFormat.WriteDevice);
        return true;
    }

    /// <summary>
    /// When the engine last heard <paramref name="deviceId"/> on its stream's clock (event time, Unix ms), from which it
    /// counts the device's silence; null if it holds no state of the device. A silence watch outside the engine (the
    /// Functions app's watchdog) dates an offline alert from here, so that it is the engine's alert, with the engine's id.
    /// </summary>
    public long? HeardAt(string deviceId) =>
        _registry.TryGetDevice(deviceId, out var device) && _states[device.Index] is { Seen: true } state ? state.HeardAtMs : null;

    /// <summary>
    /// Whether the engine holds an open alert of <paramref name="deviceId"/> (an incident it will clear, on a reading, when
    /// the condition ends): a store must keep such a device's state however long the device is silent, or the alert is
    /// never cleared.
    /// </summary>
    public bool HoldsOpenAlert(string deviceId)
    {
        if (!_registry.TryGetDevice(deviceId, out var device) || _states[device.Index] is not { } state)
        {
            return false;
        }

        if (state is PileState pile && pile.PortIncidents.Any(i => i is { IsOpen: true }))
        {
            return true;
        }

        return state.Hazards is { } h && new[] { h.Offline, h.Leakage, h.Temperature, h.Arc, h.Overload, h.IllegalCharging }.Any(i => i is { IsOpen: true });
    }

    /// <summary>
    /// Replaces <paramref name="deviceId"/>'s state with the one <see cref="TrySaveDevice"/> wrote. If the device is no
    /// longer in the registry, or its kind (or port count) changed, the blob is skipped and the engine keeps what it has
    /// of the device (the outcome says which). Throws <see cref="StateFormatException"/> for a blob that is not a device's
    /// state of this version, is another device's, or is corrupt or truncated; the engine is then unchanged.
    /// </summary>
    public DeviceRestoreOutcome RestoreDevice(string deviceId, ReadOnlySpan<byte> state)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        var r = StateFormat.Open(state, StateFormat.Blob.Device);
        var outcome = StateFormat.ReadDevice(ref r, _registry, deviceId, out var restored);
        if (restored is not null)
        {
            Install(restored);
        }

        return outcome;
    }

    /// <summary>Writes the stream clock alone, for a host that saves devices one by one (see the class remarks).</summary>
    public void SaveStreamClock(IBufferWriter<byte> output) =>
        StateFormat.Write(output, StateFormat.Blob.Clock, _clock, static (ref StateWriter w, StreamClock clock) => clock.Save(ref w));

    /// <summary>
    /// Replaces the stream clock with one <see cref="SaveStreamClock"/> wrote. Best called after restoring the devices:
    /// a device in the clock that the engine holds no state of gets a placeholder that remembers only its last timestamp
    /// (its first reading is then treated as its first). Throws <see cref="StateFormatException"/> as the others do.
    /// </summary>
    public void RestoreStreamClock(ReadOnlySpan<byte> state)
    {
        var r = StateFormat.Open(state, StateFormat.Blob.Clock);
        var clock = StreamClock.Read(ref r, _registry);
        r.End("stream clock");
        _clock.Restore(clock, ClockStateOf);
    }

    private static void WriteEngine(ref StateWriter w, DetectionEngine engine)
    {
        engine._clock.Save(ref w);
        var devices = 0;
        foreach (var state in engine._states)
        {
            devices += state is null ? 0 : 1;
        }

        w.VarUInt((uint)devices);
        foreach (var (state, _) in engine._silence.UnorderedItems)
        {
            WriteRecord(ref w, state); // heap array order: queued again in this order, the heap is rebuilt identical
        }

        foreach (var state in engine._states)
        {
            if (state is { AwaitingSilence: false })
            {
                WriteRecord(ref w, state);
            }
        }
    }

    private static void WriteRecord(ref StateWriter w, DeviceState state)
    {
        var counter = StateWriter.Counting();
        StateFormat.WriteDevice(ref counter, state);
        w.VarUInt((uint)counter.Position);
        StateFormat.WriteDevice(ref w, state);
    }

    /// <summary>Puts a restored device state in place of whatever the engine had of the device, queue and clock included.</summary>
    private void Install(DeviceState state)
    {
        ref var slot = ref _states[state.Device.Index];
        if (slot is { } old)
        {
            if (old.AwaitingSilence)
            {
                _silence.Remove(old, out _, out _);
            }

            _clock.Replace(old, state);
        }

        slot = state;
        if (state.AwaitingSilence)
        {
            _silence.Enqueue(state, state.SilenceDeadline);
        }
    }

    private DeviceState ClockStateOf(Device device, long lastTs) => _states[device.Index] ??= PlaceholderFor(device, lastTs);

    private static DeviceState PlaceholderFor(Device device, long lastTs)
    {
        var state = DeviceState.For(device);
        state.LastTs = lastTs;
        return state;
    }
}
