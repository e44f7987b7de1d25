namespace ChunkStore.S3;

/// <summary>Settings of the S3 backend (the backend itself lands with the S3 work; see the repository's issues).</summary>
public sealed class S3BackendOptions
{
    /// <summary>Gets or sets the endpoint URL, e.g. <c>http://127.0.0.1:7480</c>.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>Gets or sets the bucket name.</summary>
    public string Bucket { get; set; } = "";
}
