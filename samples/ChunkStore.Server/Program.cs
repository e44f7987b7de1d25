using ChunkStore.Server;

WebApplication app;
try
{
    app = ChunkServerApp.Build(args);
}
catch (Exception ex) when (ex is InvalidOperationException or ChunkStore.ChunkStoreException or ArgumentException)
{
    // A setting is missing or the store cannot be opened: one line, no stack trace.
    Console.Error.WriteLine("error: " + ex.Message);
    return 2;
}

await app.RunAsync().ConfigureAwait(false);
return 0;
