using System.Security.Cryptography;

namespace ChunkStore.TestHost;

/// <summary>
/// Deterministic chunk contents shared by the test host and the tests (the test project links this file), so
/// both sides can name the same chunks from a seed without exchanging bytes.
/// </summary>
internal static class WorkingSet
{
    /// <summary>Returns the bytes of chunk <paramref name="index"/> of the working set <paramref name="seed"/> (64 B to 4 KiB).</summary>
    public static byte[] Chunk(int seed, int index)
    {
        Span<byte> key = stackalloc byte[8];
        BitConverter.TryWriteBytes(key[..4], seed);
        BitConverter.TryWriteBytes(key[4..], index);
        byte[] head = SHA256.HashData(key);
        int size = 64 + (BitConverter.ToUInt16(head, 0) % 4033);
        byte[] data = new byte[size];
        for (int offset = 0; offset < size; offset += head.Length)
        {
            head = SHA256.HashData(head);
            head.AsSpan(0, Math.Min(head.Length, size - offset)).CopyTo(data.AsSpan(offset));
        }

        return data;
    }
}
