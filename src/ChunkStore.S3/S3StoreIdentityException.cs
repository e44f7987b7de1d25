namespace ChunkStore.S3;

/// <summary>
/// The local root and the bucket prefix do not belong together: the root was made for another bucket or prefix, the
/// prefix holds another store, the store's identity object is gone, or another local root owns the store.
/// </summary>
/// <remarks>
/// A store on S3 has exactly one local root: its markers say "this object exists" (inserts skip the upload on the
/// strength of them) and its access times are the garbage collection's clock. A root used with the wrong prefix
/// would report chunks stored that the bucket does not hold; a second root would let garbage collection delete
/// chunks the other root relies on. Nothing was changed when this is thrown. Not transient: someone has to fix the
/// options, or take the store over deliberately (<see cref="S3BackendOptions.TakeOverStore"/>).
/// </remarks>
public sealed class S3StoreIdentityException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The store (<c>s3://bucket/prefix</c>).</param>
    /// <param name="root">The local root.</param>
    /// <param name="reason">What does not match, and what to do.</param>
    public S3StoreIdentityException(string store, string root, string reason)
        : base($"Store {store} with local root {root}: {reason}")
    {
        Store = store;
        LocalRoot = root;
    }

    /// <summary>Gets the local root that was opened.</summary>
    public string LocalRoot { get; }
}

/// <summary>Garbage collection refused to run: this host's clock is too far from the S3 server's.</summary>
/// <remarks>
/// The sweep compares the store's clock (the cutoff, local access times) with the objects' <c>LastModified</c>,
/// which is server time. Beyond <see cref="S3BackendOptions.MaxClockSkew"/> that comparison cannot be trusted, so
/// nothing is collected. Fix the clock (NTP) and run again. Transient only in that sense: nothing was changed.
/// </remarks>
public sealed class S3ClockSkewException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The store (<c>s3://bucket/prefix</c>).</param>
    /// <param name="skew">The measured difference, local minus server (positive: the local clock is ahead).</param>
    /// <param name="bound">The largest difference allowed.</param>
    public S3ClockSkewException(string store, TimeSpan skew, TimeSpan bound)
        : base($"Store {store}: garbage collection refused: the local clock is {Describe(skew)} the server's (from its Date header), more than the allowed {bound.TotalSeconds:0} s (S3BackendOptions.MaxClockSkew). Synchronise this host's clock (NTP) and run it again; nothing was changed.")
    {
        Store = store;
        Skew = skew;
        Bound = bound;
    }

    /// <summary>Gets the measured difference, local minus server.</summary>
    public TimeSpan Skew { get; }

    /// <summary>Gets the largest difference allowed.</summary>
    public TimeSpan Bound { get; }

    private static string Describe(TimeSpan skew) =>
        FormattableString.Invariant($"{Math.Abs(skew.TotalSeconds):0} s {(skew >= TimeSpan.Zero ? "ahead of" : "behind")}");
}
