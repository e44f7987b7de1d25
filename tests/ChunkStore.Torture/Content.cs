using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace ChunkStore.Torture;

/// <summary>Deterministic chunk content: a key ("p123" shared pool, "u..." unique) and the seed give size and bytes.</summary>
internal static class Content
{
    public const int PoolSize = 3000;

    public static byte[] Generate(long seed, string key)
    {
        Span<byte> h = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(seed.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":" + key), h);
        ulong a = BinaryPrimitives.ReadUInt64LittleEndian(h);
        ulong state = BinaryPrimitives.ReadUInt64LittleEndian(h[8..]) | 1;
        double frac = (BinaryPrimitives.ReadUInt64LittleEndian(h[16..]) >> 11) * (1.0 / (1UL << 53));
        int cls = (int)(a % 1000);
        (double lo, double hi) = cls switch
        {
            < 650 => (1.0, 8192.0),
            < 995 => (8192.0, 128 * 1024.0),
            _ => (256 * 1024.0, 2 * 1024 * 1024.0),
        };
        int size = Math.Max(1, (int)Math.Exp(Math.Log(lo) + (frac * (Math.Log(hi) - Math.Log(lo)))));
        var data = new byte[size];
        int i = 0;
        for (; i + 8 <= size; i += 8)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(i), state);
        }

        for (; i < size; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data[i] = (byte)state;
        }

        return data;
    }
}
