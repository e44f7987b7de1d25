using ChunkStore.S3;
using ChunkStore.Backup.Snapshots;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace ChunkStore.Backup;

/// <summary>What every command gets: the consoles, the store location, and output helpers.</summary>
internal sealed class CliContext
{
    public const string StoreEnvironmentVariable = "CHUNKSTORE_STORE";
    public const string DefaultStoreDirectory = ".chunkstore";

    public CliContext(IAnsiConsole output, TextWriter error)
    {
        Out = output;
        Error = error;
    }

    /// <summary>Gets the console for results: tables, progress.</summary>
    public IAnsiConsole Out { get; }

    /// <summary>Gets the writer for warnings and errors (stderr), plain text.</summary>
    public TextWriter Error { get; }

    public bool Verbose { get; set; }

    /// <summary>Gets the store path: <c>--store</c>, else <c>$CHUNKSTORE_STORE</c>, else <c>./.chunkstore</c>.</summary>
    public static string StorePath(CommandArgs args, string fallback = DefaultStoreDirectory)
    {
        string? path = args.Value("--store");
        if (string.IsNullOrWhiteSpace(path))
        {
            path = Environment.GetEnvironmentVariable(StoreEnvironmentVariable);
        }

        if (string.IsNullOrWhiteSpace(path))
        {
            path = fallback;
        }

        return Path.GetFullPath(path);
    }

    private static readonly AsyncLocal<S3BackendOptions?> s_s3 = new();

    /// <summary>Gets or sets the S3 backend settings of the current command line (null: filesystem store).</summary>
    public static S3BackendOptions? S3
    {
        get => s_s3.Value;
        set => s_s3.Value = value;
    }

    /// <summary>Reads the --s3-* options; S3 is used only when --s3-bucket is given (the environment fills the rest).</summary>
    public static S3BackendOptions? S3From(CommandArgs args)
    {
        if (args.Value("--s3-bucket") is not { } bucket)
        {
            return null;
        }

        string? Get(string option, string variable) => args.Value(option) ?? Environment.GetEnvironmentVariable(variable);
        string endpoint = Get("--s3-endpoint", "CHUNKSTORE_S3_ENDPOINT")
            ?? throw new UsageException("--s3-bucket needs an endpoint: --s3-endpoint <url> or $CHUNKSTORE_S3_ENDPOINT.");
        try
        {
            return new S3BackendOptions
            {
                Endpoint = new Uri(endpoint),
                Bucket = bucket,
                Region = Get("--s3-region", "CHUNKSTORE_S3_REGION") ?? "us-east-1",
                KeyPrefix = args.Value("--s3-prefix") ?? "",
                AccessKey = Get("--s3-access-key", "CHUNKSTORE_S3_ACCESS_KEY") ?? "",
                SecretKey = Get("--s3-secret-key", "CHUNKSTORE_S3_SECRET_KEY") ?? "",
            };
        }
        catch (Exception ex) when (ex is ArgumentException or UriFormatException)
        {
            throw new UsageException("invalid S3 settings: " + ex.Message);
        }
    }

    /// <summary>Opens the store (filesystem, or S3 with a local cache when --s3-bucket was given), or creates it when <paramref name="create"/>.</summary>
    public static async Task<ChunkRepository> OpenStoreAsync(string path, bool create, SyncMode sync, CancellationToken cancellationToken)
    {
        var options = new ChunkStoreOptions { Root = path, SyncMode = sync };
        try
        {
            if (S3 is { } s3)
            {
                // The local directory is the S3 backend's cache (markers, recent full copies); snapshots stay beside it.
                return await (create ? S3ChunkStore.OpenOrCreateAsync(options, s3, cancellationToken) : S3ChunkStore.OpenAsync(options, s3, cancellationToken)).ConfigureAwait(false);
            }

            return await (create ? ChunkRepository.OpenOrCreateAsync(options, cancellationToken) : ChunkRepository.OpenAsync(options, cancellationToken)).ConfigureAwait(false);
        }
        catch (StoreNotFoundException)
        {
            throw new StoreUnavailableException($"no chunk store at {path}; run 'chunkstore-backup backup <dir>' first, or pass --store / set ${StoreEnvironmentVariable}.");
        }
    }

    public static SnapshotStore Snapshots(ChunkRepository repo) => new(repo.Root);

    public void Warn(string message) => Error.WriteLine("warning: " + message);

    /// <summary>Prints a two-column table of names and values.</summary>
    public void KeyValues(string title, IEnumerable<(string Key, string Value)> rows)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        table.AddColumn("");
        table.AddColumn(new TableColumn("").RightAligned());
        table.HideHeaders();
        foreach (var (key, value) in rows)
        {
            table.AddRow(new Text(key), new Text(value));
        }

        Out.Write(table);
    }

    /// <summary>Prints a table with headers; cells are plain text (never markup).</summary>
    public void Grid(string title, string[] headers, IEnumerable<string[]> rows, params int[] rightAligned)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        for (int i = 0; i < headers.Length; i++)
        {
            var column = new TableColumn(Markup.Escape(headers[i]));
            if (rightAligned.Contains(i))
            {
                column.RightAligned();
            }

            table.AddColumn(column);
        }

        foreach (var row in rows)
        {
            table.AddRow(row.Select(c => (IRenderable)new Text(c)).ToArray());
        }

        Out.Write(table);
    }

    /// <summary>Runs work with a byte progress bar (a plain line per step when the output is not a terminal).</summary>
    public async Task<T> WithProgressAsync<T>(string description, long total, Func<Action<long>, Action<long>, Task<T>> work, bool bytes = true)
    {
        if (!Out.Profile.Capabilities.Interactive)
        {
            // CI logs: no redrawing bars; one line when the work starts, then the result tables.
            Out.Write(new Text(description + "...\n"));
            return await work(static _ => { }, static _ => { }).ConfigureAwait(false);
        }

        T result = default!;
        await Out.Progress()
            .AutoClear(true)
            .HideCompleted(false)
            .Columns(bytes
                ? [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn()]
                : [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn()])
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total));
                result = await work(n => task.Increment(n), t => task.MaxValue = Math.Max(1, t)).ConfigureAwait(false);
                task.Value = task.MaxValue;
            }).ConfigureAwait(false);
        return result;
    }
}

/// <summary>The store cannot be opened or used: exit code 3.</summary>
internal sealed class StoreUnavailableException(string message) : Exception(message);
