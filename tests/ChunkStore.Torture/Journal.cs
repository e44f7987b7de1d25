using System.Globalization;
using System.Text;

namespace ChunkStore.Torture;

/// <summary>An append-only journal file: one line per event, flushed to the OS per line so a SIGKILL loses nothing written.</summary>
internal sealed class JournalWriter : IDisposable
{
    private readonly FileStream _stream;

    public JournalWriter(string path)
    {
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1);
    }

    public static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public void Line(string text)
    {
        lock (_stream)
        {
            // One write() per line: a kill leaves at most one partial (unterminated) last line, which readers drop.
            _stream.Write(Encoding.ASCII.GetBytes(text + "\n"));
            _stream.Flush();
        }
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>A recorded insert: the digest a writer was told is stored, the content key, the time.</summary>
internal readonly record struct Recorded(ChunkDigest Digest, string Key, long Ms);

/// <summary>Incrementally reads every journal in a directory (tails each file, ignores an unterminated last line).</summary>
internal sealed class JournalSet
{
    private readonly string _directory;
    private readonly Dictionary<string, (long Offset, string Partial)> _files = new(StringComparer.Ordinal);

    public JournalSet(string directory) => _directory = directory;

    /// <summary>Every digest some session published (ever; sessions expire after the retention, digests stay here).</summary>
    public HashSet<ChunkDigest> Published { get; } = [];

    public List<ChunkDigest> PublishedList { get; } = [];

    /// <summary>The latest time (ms) a session listing the digest was published.</summary>
    public Dictionary<ChunkDigest, long> LastPublished { get; } = [];

    /// <summary>The times (ms) at which sessions listing the digest were published.</summary>
    public Dictionary<ChunkDigest, List<long>> PublishTimes { get; } = [];

    public Dictionary<ChunkDigest, Recorded> Recorded { get; } = [];

    public List<ChunkDigest> RecordedList { get; } = [];

    /// <summary>Digests the corrupter hit (recorded before it changed the file or object), with the time of the first hit.</summary>
    public Dictionary<ChunkDigest, long> Corrupted { get; } = [];

    /// <summary>S3 only: digests whose local cache copy (not the object) the corrupter hit, with the time of the first hit.</summary>
    public Dictionary<ChunkDigest, long> LocalCorrupted { get; } = [];

    /// <summary>Observations of readers and verifiers: kind (C corrupt, M missing-while-published), digest, time, source file.</summary>
    public List<(char Kind, ChunkDigest Digest, long Ms, string Source)> Observations { get; } = [];

    public long PublishedSessions { get; private set; }

    public void Refresh()
    {
        if (!Directory.Exists(_directory))
        {
            return;
        }

        foreach (var path in Directory.GetFiles(_directory, "*.log"))
        {
            _files.TryGetValue(path, out var state);
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (stream.Length <= state.Offset)
            {
                continue;
            }

            stream.Position = state.Offset;
            var buffer = new byte[stream.Length - state.Offset];
            stream.ReadExactly(buffer);
            string text = state.Partial + Encoding.ASCII.GetString(buffer);
            int last = text.LastIndexOf('\n');
            string complete = last < 0 ? "" : text[..last];
            string partial = last < 0 ? text : text[(last + 1)..];
            _files[path] = (state.Offset + buffer.Length, partial);
            if (complete.Length == 0)
            {
                continue;
            }

            string source = Path.GetFileName(path);
            foreach (var line in complete.Split('\n'))
            {
                Parse(line, source);
            }
        }
    }

    /// <summary>
    /// True when a session that lists <paramref name="digest"/> was published in (<paramref name="atMs"/> − retention +
    /// margin, <paramref name="atMs"/>]: every garbage collection that could have run up to <paramref name="atMs"/>
    /// referenced it (a collection references the sessions published within the retention before it marks).
    /// </summary>
    public bool IsProtected(ChunkDigest digest, long atMs, long retentionMs, long marginMs)
    {
        if (!PublishTimes.TryGetValue(digest, out var times))
        {
            return false;
        }

        foreach (long tp in times)
        {
            if (tp <= atMs && tp > atMs - retentionMs + marginMs)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The digests of the sessions published after <paramref name="sinceMs"/> (what a collection now references).</summary>
    public List<ChunkDigest> PublishedSince(long sinceMs)
    {
        var list = new List<ChunkDigest>();
        foreach (var d in PublishedList)
        {
            if (LastPublished[d] > sinceMs)
            {
                list.Add(d);
            }
        }

        return list;
    }

    private void Parse(string line, string source)
    {
        var f = line.Split(' ');
        if (f.Length < 2)
        {
            return;
        }

        long ms = long.Parse(f[1], CultureInfo.InvariantCulture);
        switch (f[0])
        {
            case "I": // I ms sid digest key n|d
            {
                var d = ChunkDigest.Parse(f[3]);
                if (!Recorded.ContainsKey(d))
                {
                    RecordedList.Add(d);
                }

                Recorded[d] = new Recorded(d, f[4], ms);
                break;
            }

            case "P": // P ms sid d1,d2,...
                PublishedSessions++;
                if (f.Length > 3 && f[3].Length > 0)
                {
                    foreach (var hex in f[3].Split(','))
                    {
                        var d = ChunkDigest.Parse(hex);
                        if (Published.Add(d))
                        {
                            PublishedList.Add(d);
                            PublishTimes[d] = [ms];
                        }
                        else
                        {
                            PublishTimes[d].Add(ms);
                        }

                        LastPublished[d] = Math.Max(LastPublished.GetValueOrDefault(d), ms);
                    }
                }

                break;
            case "X": // X ms digest kind (kind local-* = the S3 cache's local copy, not the object)
            {
                var d = ChunkDigest.Parse(f[2]);
                if (f.Length > 3 && f[3].StartsWith("local-", StringComparison.Ordinal))
                {
                    LocalCorrupted.TryAdd(d, ms);
                }
                else
                {
                    Corrupted.TryAdd(d, ms);
                }

                break;
            }

            case "C":
            case "M":
                Observations.Add((f[0][0], ChunkDigest.Parse(f[2]), ms, source));
                break;
        }
    }
}
