namespace ChunkStore.Diagnostics;

/// <summary>
/// Test-only switches that turn off one protection each, so the torture harness (tests/ChunkStore.Torture) can prove
/// it detects the bug that protection prevents. Always <see langword="false"/> in production; nothing public sets them.
/// </summary>
internal static class FaultSwitches
{
    /// <summary>When set, a duplicate insert reports success without touching the stored chunk (breaks race R5 / O-1).</summary>
    internal static bool SkipDedupTouch;

    /// <summary>When set, garbage collection ignores live writer sessions when computing its cutoff.</summary>
    internal static bool IgnoreWriters;

    /// <summary>When set, an S3 insert writes no local marker after its upload (breaks Proxmox O-2: GC deletes the objects of a running backup).</summary>
    internal static bool SkipInsertMarker;

    /// <summary>When set, the S3 sweep releases a chunk's lock as soon as it queues the delete instead of when DeleteObjects returns (breaks race R2).</summary>
    internal static bool GcEarlyUnlock;
}
