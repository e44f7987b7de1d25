namespace ChunkStore.Backup;

/// <summary>What a command accepts, and its help text.</summary>
/// <param name="Name">The command word.</param>
/// <param name="Usage">The usage line after <c>chunkstore-backup</c>.</param>
/// <param name="Summary">One line for the command list.</param>
/// <param name="Details">Option descriptions and notes for <c>--help</c>.</param>
/// <param name="ValueOptions">Options that take a value (<c>--name value</c> or <c>--name=value</c>).</param>
/// <param name="FlagOptions">Options without a value.</param>
/// <param name="MinPositionals">Fewest positional arguments.</param>
/// <param name="MaxPositionals">Most positional arguments.</param>
internal sealed record CommandSpec(
    string Name, string Usage, string Summary, string Details, string[] ValueOptions, string[] FlagOptions, int MinPositionals, int MaxPositionals)
{
    public static readonly string[] GlobalValueOptions = ["--store", "--s3-bucket", "--s3-endpoint", "--s3-region", "--s3-prefix", "--s3-access-key", "--s3-secret-key"];
    public static readonly string[] GlobalFlagOptions = ["--verbose", "--help"];

    public string HelpText =>
        $"Usage: chunkstore-backup {Usage}\n\n{Summary}\n" + (Details.Length > 0 ? "\n" + Details.TrimEnd() + "\n" : "") +
        "\nCommon options:\n  --store <path>   the store (default: $CHUNKSTORE_STORE, else ./.chunkstore); with --s3-bucket: its local cache and snapshots\n" +
        "  --s3-bucket <b>  keep the chunks in this S3 bucket (S3 backend); the other --s3-* options default to $CHUNKSTORE_S3_*:\n" +
        "  --s3-endpoint <url>  --s3-region <r>  --s3-prefix <p>  --s3-access-key <k>  --s3-secret-key <s>\n" +
        "  --verbose        show stack traces of errors\n  -h, --help       show this help\n";
}

/// <summary>A parsed command line: positionals, valued options and flags. Hand-written: the surface is small.</summary>
internal sealed class CommandArgs
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    public bool Has(string flag) => _flags.Contains(flag);

    public string? Value(string option) => _values.TryGetValue(option, out string? v) ? v : null;

    /// <summary>Parses <paramref name="args"/> against <paramref name="spec"/>.</summary>
    /// <exception cref="UsageException">An unknown option, a missing value, or a wrong number of arguments.</exception>
    public static CommandArgs Parse(IReadOnlyList<string> args, CommandSpec spec)
    {
        var result = new CommandArgs();
        bool optionsEnded = false;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (optionsEnded || arg == "-" || !arg.StartsWith('-'))
            {
                result.Positionals.Add(arg);
                continue;
            }

            if (arg == "--")
            {
                optionsEnded = true;
                continue;
            }

            if (arg == "-h")
            {
                arg = "--help";
            }

            string name = arg;
            string? inline = null;
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                name = arg[..eq];
                inline = arg[(eq + 1)..];
            }

            if (spec.ValueOptions.Contains(name) || CommandSpec.GlobalValueOptions.Contains(name))
            {
                string? value = inline;
                if (value is null)
                {
                    if (i + 1 >= args.Count)
                    {
                        throw new UsageException($"option {name} needs a value.");
                    }

                    value = args[++i];
                }

                result._values[name] = value;
            }
            else if (spec.FlagOptions.Contains(name) || CommandSpec.GlobalFlagOptions.Contains(name))
            {
                if (inline is not null)
                {
                    throw new UsageException($"option {name} takes no value.");
                }

                result._flags.Add(name);
            }
            else
            {
                throw new UsageException($"unknown option '{name}' for '{spec.Name}'.");
            }
        }

        if (result.Has("--help"))
        {
            return result;
        }

        if (result.Positionals.Count < spec.MinPositionals)
        {
            throw new UsageException($"'{spec.Name}' needs {(spec.MinPositionals == spec.MaxPositionals ? "" : "at least ")}{spec.MinPositionals} argument(s): chunkstore-backup {spec.Usage}");
        }

        if (result.Positionals.Count > spec.MaxPositionals)
        {
            throw new UsageException($"'{spec.Name}' takes at most {spec.MaxPositionals} argument(s), got '{string.Join(' ', result.Positionals)}': chunkstore-backup {spec.Usage}");
        }

        return result;
    }

    /// <summary>Reads a duration option (<c>30s</c>, <c>1h</c>, ...).</summary>
    public TimeSpan? Duration(string option)
    {
        string? text = Value(option);
        if (text is null)
        {
            return null;
        }

        return Sizes.TryParseDuration(text, out var value) ? value : throw new UsageException($"{option}: '{text}' is not a duration (examples: 30s, 5m, 1h, 1h30m, 2d).");
    }

    /// <summary>Reads a size option (<c>65536</c>, <c>64K</c>, <c>1M</c>).</summary>
    public long? Size(string option)
    {
        string? text = Value(option);
        if (text is null)
        {
            return null;
        }

        return Sizes.TryParseSize(text, out long value) && value > 0 ? value : throw new UsageException($"{option}: '{text}' is not a size (examples: 65536, 64K, 1M).");
    }
}
