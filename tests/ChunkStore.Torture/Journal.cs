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

    public HashSet<ChunkDigest> Published { get; } = [];

    public List<ChunkDigest> PublishedList { get; } = [];

    public Dictionary<ChunkDigest, Recorded> Recorded { get; } = [];

    public List<ChunkDigest> RecordedList { get; } = [];

    /// <summary>Digests the corrupter hit (recorded before it changed the file), with the time.</summary>
    public Dictionary<ChunkDigest, long> Corrupted { get; } = [];

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
                        }
                    }
                }

                break;
            case "X": // X ms digest kind
            {
                var d = ChunkDigest.Parse(f[2]);
                Corrupted.TryAdd(d, ms);
                break;
            }

            case "C":
            case "M":
                Observations.Add((f[0][0], ChunkDigest.Parse(f[2]), ms, source));
                break;
        }
    }
}
