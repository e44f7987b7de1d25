using ChunkStore.FileSystem;
using ChunkStore.Locking;
using Microsoft.Extensions.Logging;

namespace ChunkStore.Backends;

/// <summary>What a store hands the backend it builds: the local layout, the lock manager, the level-2 sections, options and logging.</summary>
internal sealed record BackendServices(
    ChunkLayout Layout,
    ChunkLockManager Locks,
    StoreCriticalSections Sections,
    ChunkStoreOptions Options,
    ILoggerFactory LoggerFactory,
    ILogger Logger);
