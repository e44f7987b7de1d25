using ChunkStore.Benchmarks.Harness;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>How a read scenario takes the chunk: the public read APIs.</summary>
internal enum ReadMode
{
    /// <summary><c>ReadAsync</c>: a new array per read.</summary>
    NewArray,

    /// <summary><c>ReadIntoAsync</c> into one reused buffer per thread.</summary>
    IntoBuffer,

    /// <summary><c>ReadPooledAsync</c>: an array rented from the shared pool, returned on dispose.</summary>
    Pooled,

    /// <summary><c>OpenReadAsync</c>: a read-only stream over a pooled array, read to the end into a reused buffer.</summary>
    Stream,
}

/// <summary>Verified read vs raw open + read into a new array + SHA-256 of the same files (page cache warm), in each of the <see cref="ReadMode"/>s; the allocation column tells them apart.</summary>
internal sealed class ReadScenario(int size, int threads, ReadMode mode = ReadMode.NewArray) : IScenario
{
    public string Name => $"read verified{mode switch
    {
        ReadMode.IntoBuffer => " into a reused buffer",
        ReadMode.Pooled => " pooled (ReadPooledAsync)",
        ReadMode.Stream => " as a stream (OpenReadAsync)",
        _ => "",
    }} {Chunks.SizeName(size)}, {threads} thread(s)";

    public string Baseline => "raw open+read+SHA-256 of the same files";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore("read");
        int count = size <= 64 << 10 ? 512 : size <= 1 << 20 ? 64 : 24;
        var digests = new ChunkDigest[count];
        for (int i = 0; i < count; i++)
        {
            digests[i] = (await repo.InsertAsync(Chunks.NewBuffer(size))).Digest;
        }

        // The documented layout (docs/concepts.md): <root>/.chunks/<first 4 hex>/<64 hex>.
        string chunks = Path.Combine(repo.Root, ".chunks");
        var paths = digests.Select(d => RawOps.ChunkPath(chunks, d)).ToArray();
        var buffers = Enumerable.Range(0, threads).Select(_ => new System.Buffers.ArrayBufferWriter<byte>(size)).ToArray();
        var copies = Enumerable.Range(0, threads).Select(_ => new byte[size]).ToArray();
        var (f, b) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(threads, context.RepetitionDuration, async (w, i) =>
            {
                var digest = digests[(int)(((i * threads) + w) % count)];
                switch (mode)
                {
                    case ReadMode.IntoBuffer:
                        buffers[w].ResetWrittenCount();
                        return await repo.ReadIntoAsync(digest, buffers[w]);
                    case ReadMode.Pooled:
                    {
                        using var owner = await repo.ReadPooledAsync(digest);
                        return owner.Memory.Length;
                    }

                    case ReadMode.Stream:
                    {
                        await using var stream = await repo.OpenReadAsync(digest);
                        int total = 0, n;
                        while ((n = await stream.ReadAsync(copies[w].AsMemory(total))) > 0)
                        {
                            total += n;
                        }

                        return total;
                    }

                    default:
                        return (await repo.ReadAsync(digest)).Length;
                }
            }),
            () => Timing.RunTimedAsync(threads, context.RepetitionDuration, (w, i) =>
            {
                RawOps.ReadAndHash(paths[(int)(((i * threads) + w) % count)]);
                return ValueTask.FromResult((long)size);
            }));
        context.Add(BenchContext.Throughput("read", Name, Baseline, f, b, notes: $"{count} chunks cycled, page cache warm"), peak);
        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
    }
}

/// <summary>
/// <c>TouchAsync</c> (lock, stat, utimensat) vs raw utimensat(UTIME_NOW, UTIME_OMIT) via P/Invoke on the path built
/// from the digest.
/// </summary>
internal sealed class TouchScenario(int threads) : IScenario
{
    public string Name => $"touch, {threads} thread(s)";

    public string Baseline => "raw utimensat P/Invoke (atime UTIME_NOW, mtime UTIME_OMIT)";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore("touch");
        const int Count = 2048;
        var digests = new ChunkDigest[Count];
        for (int i = 0; i < Count; i++)
        {
            digests[i] = (await repo.InsertAsync(Chunks.NewBuffer(64))).Digest;
        }

        string chunks = repo.Layout.ChunksDirectory;
        var (f, b) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(threads, context.RepetitionDuration, async (w, i) =>
                await repo.TouchAsync(digests[(int)(((i * threads) + w) % Count)]) ? 0L : throw new InvalidOperationException("chunk missing")),
            () => Timing.RunTimedAsync(threads, context.RepetitionDuration, (w, i) =>
                Posix.TouchAtime(RawOps.ChunkPath(chunks, digests[(int)(((i * threads) + w) % Count)])) == 0
                    ? ValueTask.FromResult(0L)
                    : throw new InvalidOperationException("utimensat failed")));
        context.Add(BenchContext.Throughput("touch", Name, Baseline, f, b, notes: $"{Count} chunks cycled"), peak);
        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
    }
}

/// <summary><c>VerifyAllAsync</c> (list + read + hash every chunk) vs a raw walk + read + SHA-256 at the same parallelism.</summary>
internal sealed class VerifyAllScenario(int count, int size, int parallelism) : IScenario
{
    public string Name => $"verify-all {count:N0} × {Chunks.SizeName(size)}, parallelism {parallelism}";

    public string Baseline => "raw directory walk + open+read+SHA-256 (Parallel.ForEach, same parallelism)";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore("verify-all");
        var buffer = Chunks.NewBuffer(size);
        for (int i = 0; i < count; i++)
        {
            Chunks.Stamp(buffer);
            await repo.InsertAsync(buffer);
        }

        string chunks = repo.Layout.ChunksDirectory;
        var (f, b) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunOnceAsync(async () =>
            {
                var r = await repo.Maintenance.VerifyAllAsync(null, parallelism);
                return r.Ok == count ? (r.Checked, r.BytesVerified) : throw new InvalidOperationException($"verify-all found {r.Ok} good of {count}");
            }),
            () => Timing.RunOnceAsync(() =>
            {
                long bytes = 0, n = 0;
                var files = Directory.EnumerateDirectories(chunks).SelectMany(Directory.EnumerateFiles);
                Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, p =>
                {
                    RawOps.ReadAndHash(p);
                    Interlocked.Add(ref bytes, size);
                    Interlocked.Increment(ref n);
                });
                return Task.FromResult((n, bytes));
            }));
        context.Add(BenchContext.Throughput("verify-all", Name, Baseline, f, b, unit: "chunks/s", notes: "page cache warm"), peak);
        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
    }
}
