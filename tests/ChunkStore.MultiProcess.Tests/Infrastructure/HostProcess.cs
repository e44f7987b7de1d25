using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using ChunkStore.Tests.Infrastructure;
using Xunit.Sdk;

namespace ChunkStore.MultiProcess.Tests.Infrastructure;

/// <summary>
/// A running <c>ChunkStore.TestHost</c> child process and its line protocol (see the host's <c>Program</c>):
/// stdout lines arrive in a queue the test reads in order, stdin takes commands. Disposing kills the child.
/// </summary>
internal sealed class HostProcess : IDisposable
{
    /// <summary>How long the tests wait for an event that must come (generous: only a broken store takes this long).</summary>
    public static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _transcript = new();
    private readonly List<string> _allLines = [];
    private readonly Task _reader;

    private HostProcess(string[] args, bool unprivileged)
    {
        // Unprivileged: as user and group nobody (65534) without supplementary groups, so that permission bits
        // apply; only needed (and only possible) when the tests run as root.
        var info = ChildProcess.ForDotnet(HostAssemblyPath, args, unprivileged);
        info.RedirectStandardInput = true;

        Command = string.Join(' ', args);
        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start the test host");
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Note("stderr: " + e.Data);
            }
        };
        _process.BeginErrorReadLine();
        _reader = Task.Run(ReadStdoutAsync);
    }

    /// <summary>The path of <c>ChunkStore.TestHost.dll</c>: copied by the test project's build to <c>testhost/</c> next to the test assembly; <c>CHUNKSTORE_TESTHOST</c> overrides it.</summary>
    public static string HostAssemblyPath =>
        Environment.GetEnvironmentVariable("CHUNKSTORE_TESTHOST") is { Length: > 0 } path
            ? path
            : Path.Combine(AppContext.BaseDirectory, "testhost", "ChunkStore.TestHost.dll");

    public string Command { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Every stdout line received so far, read or not.</summary>
    public IReadOnlyList<string> AllLines
    {
        get
        {
            lock (_allLines)
            {
                return [.. _allLines];
            }
        }
    }

    /// <summary>Everything the child printed so far, for failure messages.</summary>
    public string Transcript
    {
        get
        {
            lock (_transcript)
            {
                return $"[{Command}] (pid {_process.Id})\n{_transcript}";
            }
        }
    }

    /// <summary>Whether the tests run as root (then <see cref="StartUnprivileged"/> drops to nobody).</summary>
    public static bool IsRoot => ChildProcess.IsRoot;

    /// <summary>The uid an unprivileged child runs as: nobody's when the tests run as root, else the tests' own.</summary>
    public static int UnprivilegedUid => IsRoot ? ChildProcess.NobodyId : -1;

    public static HostProcess Start(params string[] args) => Start(unprivileged: false, args);

    /// <summary>Starts the host as a process to which permission bits apply: as nobody when the tests run as root.</summary>
    public static HostProcess StartUnprivileged(params string[] args) => Start(unprivileged: true, args);

    private static HostProcess Start(bool unprivileged, string[] args)
    {
        if (!File.Exists(HostAssemblyPath))
        {
            throw new FileNotFoundException($"The test host is missing at {HostAssemblyPath}; build tests/ChunkStore.MultiProcess.Tests (it copies the host).");
        }

        return new HostProcess(args, unprivileged);
    }

    /// <summary>Reads the next line, which must start with <paramref name="prefix"/>; returns it.</summary>
    public async Task<string> ExpectAsync(string prefix, TimeSpan? timeout = null)
    {
        string? line = await NextLineAsync(timeout ?? EventTimeout);
        if (line is null || !line.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw new XunitException($"expected a line starting with '{prefix}', got {(line is null ? "end of output" : $"'{line}'")}.\n{Transcript}");
        }

        return line;
    }

    /// <summary>Returns the next stdout line, or null at end of output; fails after <paramref name="timeout"/>.</summary>
    public async Task<string?> NextLineAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _lines.Reader.WaitToReadAsync(cts.Token) && _lines.Reader.TryRead(out var line) ? line : null;
        }
        catch (OperationCanceledException)
        {
            throw new XunitException($"no line within {timeout.TotalSeconds} s.\n{Transcript}");
        }
    }

    /// <summary>Asserts that the child prints nothing and stays alive for <paramref name="duration"/> (a negative check: it can only fail when the store is wrong).</summary>
    public async Task AssertSilentAsync(TimeSpan duration, string why)
    {
        using var cts = new CancellationTokenSource(duration);
        try
        {
            if (await _lines.Reader.WaitToReadAsync(cts.Token) && _lines.Reader.TryPeek(out var line))
            {
                throw new XunitException($"{why}: the child printed '{line}'.\n{Transcript}");
            }

            throw new XunitException($"{why}: the child exited.\n{Transcript}");
        }
        catch (OperationCanceledException)
        {
            // Silent for the whole time, as required.
        }
    }

    public async Task SendAsync(string line)
    {
        Note("stdin: " + line);
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? EventTimeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new XunitException($"the child did not exit within {(timeout ?? EventTimeout).TotalSeconds} s.\n{Transcript}");
        }

        await _reader;
        return _process.ExitCode;
    }

    /// <summary>Kills the child with SIGKILL (what <see cref="Process.Kill()"/> sends on Linux) and waits until it is gone.</summary>
    public void Kill()
    {
        Note("SIGKILL");
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        _process.WaitForExit();
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    private async Task ReadStdoutAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                Note("stdout: " + line);
                lock (_allLines)
                {
                    _allLines.Add(line);
                }

                _lines.Writer.TryWrite(line);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
        finally
        {
            _lines.Writer.TryComplete();
        }
    }

    private void Note(string text)
    {
        lock (_transcript)
        {
            _transcript.Append(DateTime.UtcNow.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture)).Append(' ').AppendLine(text);
        }
    }
}
