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
}
