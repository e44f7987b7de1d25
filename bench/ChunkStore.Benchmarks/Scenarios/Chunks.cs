using System.Buffers.Binary;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>Chunk contents for the scenarios: random buffers made unique by a counter in the first 16 bytes.</summary>
internal static class Chunks
{
    private static readonly long s_nonce = Random.Shared.NextInt64();
    private static long s_counter;

    public static byte[] NewBuffer(int size)
    {
        var b = GC.AllocateUninitializedArray<byte>(size);
        Random.Shared.NextBytes(b);
        Stamp(b);
        return b;
    }

    /// <summary>Makes the buffer's content (and so its digest) new, without regenerating the rest.</summary>
    public static void Stamp(byte[] buffer)
    {
        if (buffer.Length >= 16)
        {
            BinaryPrimitives.WriteInt64LittleEndian(buffer, Interlocked.Increment(ref s_counter));
            BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(8), s_nonce);
        }
        else
        {
            Random.Shared.NextBytes(buffer);
        }
    }

    public static string SizeName(int size) => size >= 1 << 20 ? $"{size >> 20} MiB" : size >= 1024 ? $"{size >> 10} KiB" : $"{size} B";
}
