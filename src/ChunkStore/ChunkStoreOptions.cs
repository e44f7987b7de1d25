using Microsoft.Extensions.Logging;

namespace ChunkStore;

/// <summary>Settings of a <see cref="ChunkStore"/>. Setters validate their value and throw on a bad one.</summary>
public sealed class ChunkStoreOptions
{
    /// <summary>The largest chunk the store accepts by default: 16 MiB.</summary>
    public const int DefaultMaxChunkSize = 16 * 1024 * 1024;

    /// <summary>The largest value <see cref="MaxChunkSize"/> may take: 256 MiB.</summary>
    public const int MaxChunkSizeLimit = 256 * 1024 * 1024;

    /// <summary>The default number of lock files in the lock directory: 1024.</summary>
    public const int DefaultLockStripes = 1024;

    private string _root = "";
    private int _maxChunkSize = DefaultMaxChunkSize;
    private SyncMode _syncMode = SyncMode.None;
    private TimeSpan _lockTimeout = TimeSpan.FromHours(3);
    private int _lockStripes = DefaultLockStripes;
    private string? _lockDirectory;

    /// <summary>Gets or sets the store's root directory. Required; relative paths are made absolute.</summary>
    /// <exception cref="ArgumentException">The value is empty or whitespace.</exception>
    public string Root
    {
        get => _root;
        set
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            _root = Path.GetFullPath(value);
        }
    }

    /// <summary>Gets or sets when new chunks are synced to disk. Default <see cref="SyncMode.None"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="ChunkStore.SyncMode"/>.</exception>
    public SyncMode SyncMode
    {
        get => _syncMode;
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "Unknown sync mode.");
            }

            _syncMode = value;
        }
    }

    /// <summary>Gets or sets the largest chunk accepted, in bytes. Default 16 MiB; 1 byte to 256 MiB.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 or above 256 MiB.</exception>
    public int MaxChunkSize
    {
        get => _maxChunkSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxChunkSizeLimit);
            _maxChunkSize = value;
        }
    }

    /// <summary>
    /// Gets or sets how long an insert, touch or rename waits for a chunk's lock before it fails with
    /// <see cref="ChunkLockTimeoutException"/>. Default 3 hours (a lock is only held for a long time by a
    /// slow upload); at least 1 millisecond.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 ms.</exception>
    public TimeSpan LockTimeout
    {
        get => _lockTimeout;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.FromMilliseconds(1));
            _lockTimeout = value;
        }
    }

    /// <summary>
    /// Gets or sets the directory of the per-chunk lock files when the store is created (default
    /// <c>&lt;root&gt;/.locks</c>; a tmpfs such as a directory under <c>/run</c> makes locking cheaper).
    /// </summary>
    /// <remarks>
    /// Recorded in the store at <see cref="ChunkRepository.Create(ChunkStoreOptions)"/> so that every process uses
    /// the same files; opening a store with a different value fails with <see cref="InvalidStoreException"/>.
    /// </remarks>
    /// <exception cref="ArgumentException">The value is empty or whitespace.</exception>
    public string? LockDirectory
    {
        get => _lockDirectory;
        set
        {
            if (value is not null)
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(value);
                value = Path.GetFullPath(value);
            }

            _lockDirectory = value;
        }
    }

    /// <summary>
    /// Gets or sets the number of lock files that per-chunk locks are spread over when the store is created:
    /// a power of two from 16 to 65,536. Default 1024.
    /// </summary>
    /// <remarks>
    /// The count of lock files never grows beyond this. Two chunks that share a lock file still lock
    /// independently inside one process; across processes they exclude each other, which is safe but can make
    /// one wait for the other. Recorded in the store at creation, like <see cref="LockDirectory"/>.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a power of two from 16 to 65,536.</exception>
    public int LockStripes
    {
        get => _lockStripes;
        set
        {
            if (value < 16 || value > 65536 || (value & (value - 1)) != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "The lock stripe count must be a power of two from 16 to 65536.");
            }

            _lockStripes = value;
        }
    }

    /// <summary>Gets or sets the clock for writer start times and garbage-collection cutoffs. Default <see cref="TimeProvider.System"/>.</summary>
    /// <remarks>Chunk access times come from the kernel's clock, so production code should keep the default.</remarks>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Gets or sets the logger factory. Default: no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Gets or sets the meter factory that creates the <c>ChunkStore</c> meter. Default: a meter of the store's own.</summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; set; }

    /// <summary>Gets or sets the points where tests force interleavings (<see cref="Diagnostics.IInterleavingHooks"/>); nothing in production.</summary>
    internal Diagnostics.IInterleavingHooks InterleavingHooks { get; set; } = Diagnostics.NoInterleavingHooks.Instance;

    /// <summary>Creates a copy of these options.</summary>
    /// <returns>A new instance with the same values.</returns>
    public ChunkStoreOptions Clone() => (ChunkStoreOptions)MemberwiseClone();

    internal void Validate()
    {
        if (string.IsNullOrEmpty(_root))
        {
            throw new ArgumentException("ChunkStoreOptions.Root must be set to the store's directory.", "options");
        }

        ArgumentNullException.ThrowIfNull(TimeProvider, "options.TimeProvider");
    }
}
