namespace SmartPower.Detection;

/// <summary>What <see cref="DetectionEngine.RestoreDevice"/> did with a device's saved state.</summary>
public enum DeviceRestoreOutcome : byte
{
    /// <summary>The device's state is now the saved one.</summary>
    Restored,

    /// <summary>The device is no longer in the registry: the saved state was skipped.</summary>
    NotInRegistry,

    /// <summary>
    /// The device's kind (or a pile's port count) changed in the registry: the saved state no longer fits, so it was
    /// skipped: the device starts fresh (its first reading is treated as its first), or keeps what the engine has of it.
    /// </summary>
    StartedFresh,
}
