namespace ChunkStore.Diagnostics;

#if CHUNKSTORE_FAULT_SWITCHES
/// <summary>
/// Switches that turn off one protection each, so the torture harness (tests/ChunkStore.Torture) can prove it detects
/// the bug that protection prevents. This version exists only in the harness's build (configuration <c>Torture</c>);
/// every other build has the one below, whose switches are constant false.
/// </summary>
internal static class FaultSwitches
{
    /// <summary>Gets or sets whether a duplicate insert reports success without touching the stored chunk (breaks race R5 / O-1).</summary>
    internal static bool SkipDedupTouch { get; set; }

    /// <summary>Gets or sets whether garbage collection ignores live writer sessions when computing its cutoff.</summary>
    internal static bool IgnoreWriters { get; set; }

    /// <summary>Gets or sets whether an S3 insert writes no local marker after its upload (breaks Proxmox O-2: GC deletes the objects of a running backup).</summary>
    internal static bool SkipInsertMarker { get; set; }

    /// <summary>Gets or sets whether the S3 sweep releases a chunk's lock as soon as it queues the delete instead of when DeleteObjects returns (breaks race R2).</summary>
    internal static bool GcEarlyUnlock { get; set; }
}
#else
/// <summary>
/// The shipped build's fault switches: every one is off and cannot be turned on, so the branches that test them are
/// dead code the JIT drops. The torture harness builds with configuration <c>Torture</c>, which has settable ones.
/// </summary>
internal static class FaultSwitches
{
    /// <summary>Gets false: a duplicate insert always touches the stored chunk.</summary>
    internal static bool SkipDedupTouch => false;

    /// <summary>Gets false: garbage collection always honours live writer sessions.</summary>
    internal static bool IgnoreWriters => false;

    /// <summary>Gets false: an S3 insert always writes its local marker.</summary>
    internal static bool SkipInsertMarker => false;

    /// <summary>Gets false: the S3 sweep keeps a batch's locks until DeleteObjects returns.</summary>
    internal static bool GcEarlyUnlock => false;
}
#endif
