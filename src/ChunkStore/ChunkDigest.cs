using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkStore;

/// <summary>
/// Identifies a chunk by the SHA-256 digest of its content (32 bytes, 64 lowercase hex characters as text).
/// </summary>
/// <remarks>
/// A value type that compares, hashes and orders by its bytes (ordering equals the ordinal order of the
/// hex text). <see cref="Parse(ReadOnlySpan{char})"/> and <see cref="TryFormat"/> do not allocate.
/// <c>default(ChunkDigest)</c> is the all-zero digest, which no real content hashes to in practice.
/// In JSON (System.Text.Json) a digest is its 64-character hex string.
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
[JsonConverter(typeof(ChunkDigestJsonConverter))]
public readonly struct ChunkDigest : IEquatable<ChunkDigest>, IComparable<ChunkDigest>, ISpanFormattable
{
    /// <summary>The length of a digest in bytes.</summary>
    public const int ByteLength = 32;

    /// <summary>The length of a digest's text form in characters.</summary>
    public const int HexLength = 64;

    // Stored big-endian so that comparing the four words in order equals comparing the bytes.
    private readonly ulong _a, _b, _c, _d;

    private ChunkDigest(ulong a, ulong b, ulong c, ulong d)
    {
        _a = a; _b = b; _c = c; _d = d;
    }

    /// <summary>Creates a digest from its 32 raw bytes.</summary>
    /// <param name="bytes">Exactly 32 bytes.</param>
    /// <exception cref="ArgumentException"><paramref name="bytes"/> is not 32 bytes long.</exception>
    public ChunkDigest(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != ByteLength)
        {
            ThrowHelper.ThrowArgument(nameof(bytes), $"A chunk digest is {ByteLength} bytes; got {bytes.Length}.");
        }

        _a = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        _b = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        _c = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        _d = BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]);
    }

    /// <summary>Computes the digest (SHA-256) of <paramref name="data"/>.</summary>
    /// <param name="data">The chunk content.</param>
    /// <returns>The digest of the content.</returns>
    public static ChunkDigest Compute(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[ByteLength];
        SHA256.HashData(data, hash);
        return new ChunkDigest(hash);
    }

    /// <summary>Gets the first two bytes of the digest, which name its prefix directory (<c>0000</c>..<c>ffff</c>).</summary>
    internal int Prefix => (int)(_a >> 48);

    /// <summary>Writes the 32 raw bytes of the digest to <paramref name="destination"/>.</summary>
    /// <param name="destination">A span of at least 32 bytes.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 32 bytes.</exception>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < ByteLength)
        {
            ThrowHelper.ThrowArgument(nameof(destination), $"Need {ByteLength} bytes; got {destination.Length}.");
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    /// <summary>Returns the 32 raw bytes of the digest in a new array.</summary>
    /// <returns>A new 32-byte array.</returns>
    public byte[] ToArray()
    {
        var bytes = new byte[ByteLength];
        CopyTo(bytes);
        return bytes;
    }

    /// <summary>Parses the 64-character hexadecimal text form of a digest (upper or lower case).</summary>
    /// <param name="text">The text to parse.</param>
    /// <returns>The digest.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException"><paramref name="text"/> is not 64 hexadecimal characters; the message shows the text.</exception>
    public static ChunkDigest Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Parse(text.AsSpan());
    }

    /// <summary>Parses the 64-character hexadecimal text form of a digest (upper or lower case).</summary>
    /// <param name="text">The text to parse.</param>
    /// <returns>The digest.</returns>
    /// <exception cref="FormatException"><paramref name="text"/> is not 64 hexadecimal characters; the message shows the text.</exception>
    public static ChunkDigest Parse(ReadOnlySpan<char> text)
    {
        if (!TryParse(text, out var digest))
        {
            ThrowHelper.ThrowMalformedDigest(text);
        }

        return digest;
    }

    /// <summary>Tries to parse the 64-character hexadecimal text form of a digest (upper or lower case).</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="digest">The digest, or <c>default</c> when parsing fails.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is exactly 64 hexadecimal characters.</returns>
    public static bool TryParse(ReadOnlySpan<char> text, out ChunkDigest digest)
    {
        digest = default;
        if (text.Length != HexLength)
        {
            return false;
        }

        if (!TryParseWord(text[..16], out var a) || !TryParseWord(text[16..32], out var b) ||
            !TryParseWord(text[32..48], out var c) || !TryParseWord(text[48..], out var d))
        {
            return false;
        }

        digest = new ChunkDigest(a, b, c, d);
        return true;
    }

    /// <summary>Tries to parse the 64-character hexadecimal text form of a digest.</summary>
    /// <param name="text">The text to parse; <see langword="null"/> fails.</param>
    /// <param name="digest">The digest, or <c>default</c> when parsing fails.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is exactly 64 hexadecimal characters.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out ChunkDigest digest)
    {
        if (text is null)
        {
            digest = default;
            return false;
        }

        return TryParse(text.AsSpan(), out digest);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryParseWord(ReadOnlySpan<char> hex, out ulong value)
    {
        value = 0;
        foreach (var ch in hex)
        {
            int nibble = HexValue(ch);
            if (nibble < 0)
            {
                return false;
            }

            value = (value << 4) | (uint)nibble;
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int HexValue(char ch) => ch switch
    {
        >= '0' and <= '9' => ch - '0',
        >= 'a' and <= 'f' => ch - 'a' + 10,
        >= 'A' and <= 'F' => ch - 'A' + 10,
        _ => -1,
    };

    /// <summary>Writes the lowercase 64-character hex form into <paramref name="destination"/>.</summary>
    /// <param name="destination">The span to write to.</param>
    /// <param name="charsWritten">64 on success, 0 when the span is too short.</param>
    /// <param name="format">Ignored; the only format is lowercase hex.</param>
    /// <param name="provider">Ignored.</param>
    /// <returns><see langword="true"/> when the span had room for 64 characters.</returns>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        if (destination.Length < HexLength)
        {
            charsWritten = 0;
            return false;
        }

        Span<byte> bytes = stackalloc byte[ByteLength];
        CopyTo(bytes);
        Convert.TryToHexStringLower(bytes, destination, out charsWritten);
        return true;
    }

    /// <summary>Returns the lowercase 64-character hex form of the digest.</summary>
    /// <returns>The hex text.</returns>
    public override string ToString() => string.Create(HexLength, this, static (span, digest) => digest.TryFormat(span, out _, default, System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Returns the lowercase 64-character hex form of the digest.</summary>
    /// <param name="format">Ignored.</param>
    /// <param name="formatProvider">Ignored.</param>
    /// <returns>The hex text.</returns>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <summary>Returns the first 12 hex characters of the digest, for log messages.</summary>
    /// <returns>A short, human-readable form (not unique).</returns>
    public string ToShortString() => ToString()[..12];

    /// <inheritdoc/>
    public bool Equals(ChunkDigest other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ChunkDigest other && Equals(other);

    /// <inheritdoc/>
    // SHA-256 output is uniformly distributed: any 32 bits of it are a good hash code.
    public override int GetHashCode() => (int)_d ^ (int)(_d >> 32);

    /// <inheritdoc/>
    public int CompareTo(ChunkDigest other)
    {
        int c = _a.CompareTo(other._a);
        if (c != 0)
        {
            return c;
        }

        c = _b.CompareTo(other._b);
        if (c != 0)
        {
            return c;
        }

        c = _c.CompareTo(other._c);
        return c != 0 ? c : _d.CompareTo(other._d);
    }

    /// <summary>Compares two digests for equality.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns><see langword="true"/> when both have the same bytes.</returns>
    public static bool operator ==(ChunkDigest left, ChunkDigest right) => left.Equals(right);

    /// <summary>Compares two digests for inequality.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns><see langword="true"/> when the bytes differ.</returns>
    public static bool operator !=(ChunkDigest left, ChunkDigest right) => !left.Equals(right);

    /// <summary>Orders two digests by their bytes.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> sorts first.</returns>
    public static bool operator <(ChunkDigest left, ChunkDigest right) => left.CompareTo(right) < 0;

    /// <summary>Orders two digests by their bytes.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> sorts last.</returns>
    public static bool operator >(ChunkDigest left, ChunkDigest right) => left.CompareTo(right) > 0;

    /// <summary>Orders two digests by their bytes.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> sorts first or equal.</returns>
    public static bool operator <=(ChunkDigest left, ChunkDigest right) => left.CompareTo(right) <= 0;

    /// <summary>Orders two digests by their bytes.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> sorts last or equal.</returns>
    public static bool operator >=(ChunkDigest left, ChunkDigest right) => left.CompareTo(right) >= 0;
}

/// <summary>Writes a <see cref="ChunkDigest"/> as its hex string and reads it back (a malformed string is a <see cref="JsonException"/>).</summary>
internal sealed class ChunkDigestJsonConverter : JsonConverter<ChunkDigest>
{
    public override ChunkDigest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"A chunk digest is a string of {ChunkDigest.HexLength} hex characters, not {reader.TokenType}.");
        }

        string? text = reader.GetString();
        return ChunkDigest.TryParse(text, out var digest)
            ? digest
            : throw new JsonException($"'{text}' is not a chunk digest ({ChunkDigest.HexLength} hex characters).");
    }

    public override void Write(Utf8JsonWriter writer, ChunkDigest value, JsonSerializerOptions options)
    {
        Span<char> text = stackalloc char[ChunkDigest.HexLength];
        value.TryFormat(text, out _, default, System.Globalization.CultureInfo.InvariantCulture);
        writer.WriteStringValue(text);
    }
}
