using Microsoft.Extensions.Logging;

namespace ChunkStore.Torture;

/// <summary>The store's log messages (warnings and up) on the worker's stderr, which the driver keeps in <c>logs/&lt;instance&gt;.err</c>.</summary>
internal sealed class StderrLoggerFactory : ILoggerFactory, ILogger
{
    public static readonly StderrLoggerFactory Instance = new();

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Console.Error.WriteLine($"LOG {JournalWriter.NowMs} {logLevel} {eventId.Id} {formatter(state, exception).ReplaceLineEndings(" ")}");
        }
    }

    public void Dispose()
    {
    }
}
