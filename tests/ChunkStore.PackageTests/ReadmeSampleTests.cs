using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.S3;
using ChunkStore.S3;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ChunkStore.PackageTests;

/// <summary>
/// Every C# sample of the README, the two package readmes and the getting-started guide, run as written against the
/// packed packages (this project references the .nupkg files, not the projects): against a filesystem store in a
/// temporary directory and against the local RGW. Only the literals a reader replaces anyway (paths, endpoint,
/// bucket, keys) are replaced, each of them checked to be there; the samples' free names (your chunker, your chunk
/// bytes) are supplied as globals. A new sample in one of these files fails the count check until it runs here too.
/// </summary>
public sealed partial class ReadmeSampleTests : IDisposable
{
    private static readonly string s_repository = FindRepository();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "chunkstore-package-tests-" + Guid.NewGuid().ToString("N"));

    public ReadmeSampleTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("README.md", 1)]
    [InlineData("src/ChunkStore/PACKAGE.md", 1)]
    [InlineData("src/ChunkStore.S3/PACKAGE.md", 1)]
    [InlineData("docs/getting-started.md", 2)]
    public void EverySampleOfTheFile_RunsHere(string file, int samples)
    {
        Assert.Equal(samples, Samples(file).Count);
    }

    [Fact]
    public void TheAssembliesUnderTest_AreThePackagesNotProjectBuilds()
    {
        // The build copies the package's assembly next to the tests: it must be the very file restored from the feed.
        string packages = Path.Combine(s_repository, "artifacts", "package-tests", "packages");
        foreach (var (assembly, id) in new[] { (typeof(ChunkRepository).Assembly, "chunkstore"), (typeof(S3ChunkStore).Assembly, "chunkstore.s3") })
        {
            string name = Path.GetFileName(assembly.Location);
            string restored = Assert.Single(Directory.GetFiles(Path.Combine(packages, id), name, SearchOption.AllDirectories));
            Assert.Equal(File.ReadAllBytes(restored), File.ReadAllBytes(assembly.Location));
        }
    }

    [Fact]
    public async Task Readme_FileSystemSample_Runs()
    {
        string root = Path.Combine(_dir, "readme");
        var globals = new SampleGlobals();
        await RunAsync(Replace(Samples("README.md")[0], ("\"/srv/backup/chunks\"", Literal(root))), globals);

        await using var store = await ChunkRepository.OpenAsync(new ChunkStoreOptions { Root = root });
        Assert.Equal(globals.chunkBytes, await store.ReadAsync(globals.digest));
    }

    [Fact]
    public async Task CorePackageReadme_Sample_Runs()
    {
        string root = Path.Combine(_dir, "package");
        var globals = new SampleGlobals();
        await RunAsync(Replace(Samples("src/ChunkStore/PACKAGE.md")[0], ("\"/var/backups/chunks\"", Literal(root))), globals);

        await using var store = await ChunkRepository.OpenAsync(new ChunkStoreOptions { Root = root });
        Assert.True(await store.ContainsAsync(ChunkDigest.Compute(globals.data)));
    }

    [Fact]
    public async Task GettingStarted_Samples_Run()
    {
        string root = Path.Combine(_dir, "getting-started");
        var globals = new SampleGlobals();
        await RunAsync(Replace(Samples("docs/getting-started.md")[0], ("\"/srv/backup/chunks\"", Literal(root))), globals);
        Assert.NotEmpty(globals.SavedIndex);

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ChunkStore:Root"] = root }).Build();
        var di = new DependencyInjectionGlobals { services = new ServiceCollection(), configuration = configuration };
        await RunAsync(Samples("docs/getting-started.md")[1], di);
        await using var provider = di.services.BuildServiceProvider();
        var store = provider.GetRequiredService<ChunkRepository>();
        Assert.Equal(globals.SavedIndex.Count, await CountAsync(store.ListAsync()));
    }

    [Fact]
    public async Task S3PackageReadme_Sample_RunsAgainstTheLocalRgw()
    {
        string? endpoint = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ENDPOINT");
        if (string.IsNullOrEmpty(endpoint))
        {
            // Never skip silently in CI: test.sh starts an RGW and exports the endpoint.
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "CHUNKSTORE_S3_ENDPOINT is not set; run ./test.sh, which starts a local RGW.");
            return;
        }

        string accessKey = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ACCESS_KEY") ?? "";
        string secretKey = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_SECRET_KEY") ?? "";
        string bucket = "cs-package-" + Guid.NewGuid().ToString("N")[..16];
        using var client = new AmazonS3Client(new BasicAWSCredentials(accessKey, secretKey), new AmazonS3Config { ServiceURL = endpoint, ForcePathStyle = true });
        await client.PutBucketAsync(bucket);

        string root = Path.Combine(_dir, "s3-cache");
        var globals = new SampleGlobals();
        await RunAsync(
            Replace(
                Samples("src/ChunkStore.S3/PACKAGE.md")[0],
                ("\"/var/cache/mystore\"", Literal(root)),
                ("\"http://127.0.0.1:7480\"", Literal(endpoint)),
                ("Bucket = \"backups\"", $"Bucket = {Literal(bucket)}"),
                ("AccessKey = \"...\"", $"AccessKey = {Literal(accessKey)}"),
                ("SecretKey = \"...\"", $"SecretKey = {Literal(secretKey)}")),
            globals);

        var objects = await client.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = "store1/.chunks/" });
        Assert.Equal([ChunkDigest.Compute(globals.bytes).ToString()], (objects.S3Objects ?? []).Select(o => o.Key[(o.Key.LastIndexOf('/') + 1)..]));
    }

    /// <summary>Runs a sample as a C# script that sees only the packages' public API and the globals.</summary>
    /// <remarks>A script's top level cannot hold <c>await using</c> declarations, so the sample's statements become the
    /// body of one async method of the script, after its <c>using</c> directives.</remarks>
    private static async Task RunAsync(string sample, object globals)
    {
        var lines = sample.Split('\n');
        int directives = lines.TakeWhile(l => l.StartsWith("using ", StringComparison.Ordinal) || l.Length == 0).Count();
        string code = string.Join('\n', lines[..directives]) + "\nasync Task RunSampleAsync()\n{\n" + string.Join('\n', lines[directives..]) + "\n}\nawait RunSampleAsync();\n";
        var options = ScriptOptions.Default
            .AddReferences(typeof(ChunkRepository).Assembly, typeof(S3ChunkStore).Assembly, typeof(ServiceCollection).Assembly,
                typeof(IServiceCollection).Assembly, typeof(ConfigurationBuilder).Assembly, typeof(IConfiguration).Assembly,
                typeof(OptionsConfigurationServiceCollectionExtensions).Assembly, typeof(ChunkStoreServiceCollectionExtensions).Assembly)
            .AddImports("System", "System.Collections.Generic", "System.Linq", "System.Threading.Tasks");
        await CSharpScript.RunAsync(code, options, globals, globals.GetType());
    }

    private static List<string> Samples(string file) =>
        CodeBlock().Matches(File.ReadAllText(Path.Combine(s_repository, file))).Select(m => m.Groups[1].Value).ToList();

    /// <summary>Replaces each literal, which must be in the sample (a changed readme must change this test too).</summary>
    private static string Replace(string code, params (string Old, string New)[] replacements)
    {
        foreach (var (old, replacement) in replacements)
        {
            Assert.True(code.Contains(old, StringComparison.Ordinal), $"the sample no longer contains {old}:\n{code}");
            code = code.Replace(old, replacement, StringComparison.Ordinal);
        }

        return code;
    }

    private static string Literal(string text) => "@\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static async Task<int> CountAsync<T>(IAsyncEnumerable<T> items)
    {
        int n = 0;
        await foreach (var _ in items)
        {
            n++;
        }

        return n;
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ChunkStore.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("ChunkStore.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^```csharp\n(.*?)^```$", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex CodeBlock();
}

/// <summary>The free names of the storage samples: the reader's chunk bytes, chunker and index store.</summary>
#pragma warning disable CA1051, SA1307, IDE1006 // script globals are named as the samples name them
public sealed class SampleGlobals
{
    public byte[] chunkBytes = RandomBytes(5000, 1);
    public byte[] data = RandomBytes(6000, 2);
    public byte[] bytes = RandomBytes(7000, 3);
    public byte[] fileBytes = RandomBytes(300_000, 4);

    public ChunkDigest digest => ChunkDigest.Compute(chunkBytes);

    public IEnumerable<ChunkDigest> allReferencedDigests => [digest, ChunkDigest.Compute(data)];

    public List<ChunkDigest> SavedIndex { get; } = [];

    public IEnumerable<byte[]> Chunk(byte[] file) => file.Chunk(64 * 1024);

    public void SaveIndex(List<ChunkDigest> index) => SavedIndex.AddRange(index);

    public IEnumerable<List<ChunkDigest>> AllIndexes() => [SavedIndex];

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}

/// <summary>The free names of the dependency-injection sample.</summary>
public sealed class DependencyInjectionGlobals
{
    public required IServiceCollection services;
    public required IConfiguration configuration;
}
#pragma warning restore CA1051, SA1307, IDE1006
