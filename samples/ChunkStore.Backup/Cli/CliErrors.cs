namespace ChunkStore.Backup;

/// <summary>Exit codes a script can rely on.</summary>
internal static class ExitCodes
{
    /// <summary>Everything worked.</summary>
    public const int Ok = 0;

    /// <summary>A verification or integrity problem was found (corrupt or missing chunks, damaged snapshot, mismatch).</summary>
    public const int IntegrityProblem = 1;

    /// <summary>The command line was wrong (unknown command or option, bad value, no such snapshot).</summary>
    public const int Usage = 2;

    /// <summary>The store or a file could not be opened, read or written.</summary>
    public const int StoreError = 3;
}

/// <summary>A command-line mistake: reported with exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>An integrity problem: reported with exit code 1.</summary>
internal sealed class IntegrityException : Exception
{
    public IntegrityException(string message)
        : base(message)
    {
    }

    public IntegrityException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
