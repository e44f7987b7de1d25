using System.Diagnostics.CodeAnalysis;

namespace ChunkStore;

/// <summary>Cold throw paths kept out of line so that hot methods stay small.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowArgument(string paramName, string message) => throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    public static void ThrowMalformedDigest(ReadOnlySpan<char> text)
    {
        string shown = text.Length > 80 ? string.Concat(text[..80], "…") : text.ToString();
        throw new FormatException(
            $"'{shown}' is not a chunk digest: expected {ChunkDigest.HexLength} hexadecimal characters, got {text.Length} characters.");
    }

    [DoesNotReturn]
    public static void ThrowChunkSize(string store, long length, int maximum, string paramName = "data")
    {
        string reason = length == 0 ? "a chunk must hold at least 1 byte" : $"the store's maximum chunk size is {maximum} bytes";
        throw new ArgumentOutOfRangeException(paramName, length, $"Cannot insert a chunk of {length} bytes into store {store}: {reason}. Nothing was written.");
    }

    [DoesNotReturn]
    public static void ThrowDisposed(string store) => throw new ObjectDisposedException(nameof(ChunkStore), $"Store {store} has been disposed.");
}
