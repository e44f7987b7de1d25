using System.Text.Json;
using System.Text.Json.Serialization;
using ChunkStore.Backends;

namespace ChunkStore.Remote;

/// <summary>
/// Ties a bucket prefix and a local root together. The identity object <c>&lt;prefix&gt;/.chunkstore-identity.json</c>
/// names the store (a random id made at create) and its one local root; the local root's <c>.s3-store.json</c> names
/// the bucket, prefix and store it was made for. Opening checks both (one GET); every garbage collection checks again
/// that this root still owns the store (the same GET, whose <c>Date</c> header also gives the clock-skew check).
/// </summary>
/// <remarks>
/// Why one root per store: a root's markers make inserts skip uploads and its access times are the collection's clock.
/// With a second root on the prefix (or a re-created cache directory) a collection from either would delete objects
/// the other relies on; with a root pointed at another bucket or prefix, inserts would report chunks stored that the
/// bucket does not hold. <see cref="RemoteStoreLocation.TakeOverStore"/> moves a store to a new root on purpose.
/// Every refusal is the package's exception (<c>S3StoreIdentityException</c> on S3), made by <paramref name="mismatch"/>
/// from the reason.
/// </remarks>
/// <param name="location">Where the store is, and whether this root may take it over.</param>
/// <param name="storage">The objects.</param>
/// <param name="localRoot">The local root.</param>
/// <param name="mismatch">Makes the exception for a refusal from its reason.</param>
internal sealed class RemoteStoreIdentity(RemoteStoreLocation location, IRemoteStorage storage, string localRoot, Func<string, Exception> mismatch) : IRemoteStoreIdentity
{
    /// <summary>The identity object's name under the store's key prefix (outside <c>.chunks/</c>: never listed as a chunk).</summary>
    public const string ObjectName = ".chunkstore-identity.json";

    /// <summary>The local binding's file name in the local root.</summary>
    /// <remarks>Named when S3 was the only remote storage; kept, so that existing roots open.</remarks>
    public const string BindingFileName = ".s3-store.json";

    private const int Format = 1;
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private readonly string _key = KeyFor(location.KeyPrefix);
    private readonly string _bindingPath = Path.Combine(localRoot, BindingFileName);
    private Binding? _binding;

    /// <summary>Gets the identity object's key.</summary>
    public string Key => _key;

    /// <summary>The identity object's key under <paramref name="keyPrefix"/>.</summary>
    /// <param name="keyPrefix">The store's key prefix (may be empty).</param>
    /// <returns>The key.</returns>
    public static string KeyFor(string keyPrefix) => keyPrefix.Length == 0 ? ObjectName : keyPrefix + "/" + ObjectName;

    /// <summary>
    /// At open: checks that the local root was made for this bucket and prefix, and that the prefix's identity names
    /// this root; binds a root that has no binding yet to a prefix without a store (creating its identity object), or
    /// takes the store over when <see cref="RemoteStoreLocation.TakeOverStore"/> says so.
    /// </summary>
    /// <remarks>Throws the package's mismatch exception when they do not belong together; nothing was changed then.</remarks>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var binding = ReadBinding();
        if (binding is not null && (binding.Bucket != location.Bucket || binding.Prefix != location.KeyPrefix))
        {
            var differs = new List<string>();
            if (binding.Bucket != location.Bucket)
            {
                differs.Add($"bucket {binding.Bucket} (the options name bucket {location.Bucket})");
            }

            if (binding.Prefix != location.KeyPrefix)
            {
                differs.Add($"key prefix '{binding.Prefix}' (the options name prefix '{location.KeyPrefix}')");
            }

            throw Mismatch($"the local root was made for {string.Join(" and ", differs)}. Its markers describe that store, not this one: open it with the bucket and prefix it was made for, or use a new local root for this one.");
        }

        var remote = await GetAsync(cancellationToken).ConfigureAwait(false);
        if (remote is null)
        {
            if (binding is not null)
            {
                throw Mismatch($"the store's identity object {_key} is gone from the bucket (the prefix was emptied, or the object deleted). The local root's markers claim objects the bucket may no longer hold; refusing to use them. Move the local root away and create the store again.");
            }

            var created = new Identity(Format, NewId(), NewId(), DateTimeOffset.UtcNow, Environment.MachineName, localRoot, null);
            if (!await PutAsync(created, createOnly: true, cancellationToken).ConfigureAwait(false))
            {
                // Another root created the store at the same moment: it owns it.
                remote = await GetAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                WriteBinding(new Binding(location.Bucket, location.KeyPrefix, created.StoreId, created.RootId));
                return;
            }
        }

        if (remote is null)
        {
            throw Mismatch($"the store's identity object {_key} appeared and vanished again while opening; another process is changing the prefix.");
        }

        if (binding is not null && binding.StoreId != remote.StoreId)
        {
            throw Mismatch($"the prefix holds another store (identity {remote.StoreId}, made by local root {remote.RootHost}:{remote.RootPath}); this local root belongs to store {binding.StoreId}, which is gone. Move the local root away and open the new store with a root of its own.");
        }

        if (binding is not null && binding.RootId == remote.RootId)
        {
            _binding = binding;
            return;
        }

        if (!location.TakeOverStore)
        {
            string whose = $"local root {remote.RootHost}:{remote.RootPath}";
            throw Mismatch(binding is null
                ? $"the prefix already holds a store, and its local root is {whose}. A store has one local root (its markers and access times are what garbage collection trusts). Open that root; if it is lost for good, set {location.TakeOverSetting} to make this root the store's root."
                : $"the store was taken over by {whose}; this root is no longer its local root. Use that root, or set {location.TakeOverSetting} to take the store back (only when the other root is gone).");
        }

        var takenOver = remote with { RootId = NewId(), RootHost = Environment.MachineName, RootPath = localRoot, TakenOverAt = DateTimeOffset.UtcNow };
        await PutAsync(takenOver, createOnly: false, cancellationToken).ConfigureAwait(false);
        WriteBinding(new Binding(location.Bucket, location.KeyPrefix, takenOver.StoreId, takenOver.RootId));
    }

    /// <summary>Before a collection: the identity object must still name this root (one request).</summary>
    /// <remarks>Throws the package's mismatch exception when it does not.</remarks>
    public async Task CheckOwnerAsync(CancellationToken cancellationToken)
    {
        var binding = _binding ?? ReadBinding() ?? throw Mismatch("the local root has no binding to the bucket prefix; reopen the store.");
        var remote = await GetAsync(cancellationToken).ConfigureAwait(false);
        if (remote is null)
        {
            throw Mismatch($"garbage collection refused: the store's identity object {_key} is gone from the bucket.");
        }

        if (remote.StoreId != binding.StoreId || remote.RootId != binding.RootId)
        {
            throw Mismatch($"garbage collection refused: the store now belongs to local root {remote.RootHost}:{remote.RootPath} (identity {remote.StoreId}); this root's markers and access times are not the store's clock any more.");
        }
    }

    private Exception Mismatch(string reason) => mismatch(reason);

    private static string NewId() => Guid.NewGuid().ToString("N");

    private Binding? ReadBinding()
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(_bindingPath);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileSystem.FileErrors.Wrap(location.Description, null, _bindingPath, "read the local root's binding", ex);
        }

        try
        {
            return JsonSerializer.Deserialize<Binding>(bytes, s_json) ?? throw new JsonException("empty");
        }
        catch (JsonException ex)
        {
            throw Mismatch($"its binding file {_bindingPath} is unreadable ({ex.Message}); refusing to guess which store the local root belongs to.");
        }
    }

    private void WriteBinding(Binding binding)
    {
        string temp = _bindingPath + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                stream.Write(JsonSerializer.SerializeToUtf8Bytes(binding, s_json));
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, _bindingPath, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileSystem.FileErrors.Wrap(location.Description, null, _bindingPath, "write the local root's binding", ex);
        }

        _binding = binding;
    }

    /// <summary>GETs the identity object; null when absent (a missing bucket is an error).</summary>
    private async Task<Identity?> GetAsync(CancellationToken cancellationToken)
    {
        var read = await storage.ReadAsync(_key, null, new ExactArrayWriter(), cancellationToken).ConfigureAwait(false);
        if (read is not { } found)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<Identity>(found.Bytes.Span, s_json);
        }
        catch (JsonException ex)
        {
            throw Mismatch($"its identity object {_key} is not readable ({ex.Message}); refusing to guess which store the prefix holds.");
        }
    }

    /// <summary>PUTs the identity object; with <paramref name="createOnly"/>, false when one exists already.</summary>
    private async Task<bool> PutAsync(Identity identity, bool createOnly, CancellationToken cancellationToken) =>
        await storage.PutAsync(_key, JsonSerializer.SerializeToUtf8Bytes(identity, s_json), createOnly && storage.Capabilities.AtomicPutIfAbsent, null, cancellationToken).ConfigureAwait(false);

    /// <summary>The identity object: which store this prefix holds and which local root owns it.</summary>
    private sealed record Identity(int Format, string StoreId, string RootId, DateTimeOffset CreatedAt, string RootHost, string RootPath, DateTimeOffset? TakenOverAt);

    /// <summary>The local root's binding: which bucket, prefix and store (as which root) it was made for.</summary>
    private sealed record Binding(string Bucket, string Prefix, string StoreId, string RootId);
}

/// <summary>Where a remote store is, for its identity check.</summary>
/// <param name="Bucket">The bucket (or the storage's equivalent), as recorded in the local root's binding.</param>
/// <param name="KeyPrefix">The store's key prefix.</param>
/// <param name="TakeOverStore">Whether this root may take the store over from another root.</param>
/// <param name="Description">The store's description for messages.</param>
/// <param name="TakeOverSetting">How messages name the take-over setting (e.g. <c>S3BackendOptions.TakeOverStore</c>).</param>
internal sealed record RemoteStoreLocation(string Bucket, string KeyPrefix, bool TakeOverStore, string Description, string TakeOverSetting);
