using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkStore.Server.Http;

/// <summary>Writes a <see cref="ChunkDigest"/> as its 64-character hex text (the library's type has no JSON form of its own).</summary>
internal sealed class ChunkDigestJsonConverter : JsonConverter<ChunkDigest>
{
    public override ChunkDigest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ChunkDigest.TryParse(reader.GetString(), out var digest) ? digest : throw new JsonException("A digest is 64 hex characters.");

    public override void Write(Utf8JsonWriter writer, ChunkDigest value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
