namespace ChunkStore.Server.Operations;

/// <summary>One warning or error, for the status page.</summary>
internal sealed record RecentError(DateTimeOffset At, LogLevel Level, int EventId, string Category, string Message);

/// <summary>The last warnings and errors logged by the library and the server (a bounded ring), for the status page.</summary>
internal sealed class RecentErrors(int capacity)
{
    private readonly Queue<RecentError> _entries = new();
    private long _total;

    public long Total => Interlocked.Read(ref _total);

    public void Add(RecentError error)
    {
        lock (_entries)
        {
            _entries.Enqueue(error);
            while (_entries.Count > capacity)
            {
                _entries.Dequeue();
            }
        }

        Interlocked.Increment(ref _total);
    }

    /// <summary>Returns the kept entries, newest first.</summary>
    public IReadOnlyList<RecentError> Snapshot()
    {
        lock (_entries)
        {
            return _entries.Reverse().ToList();
        }
    }
}

/// <summary>Feeds <see cref="RecentErrors"/> with every log entry of level Warning or above.</summary>
internal sealed class RecentErrorsLoggerProvider(RecentErrors errors, TimeProvider time) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, errors, time);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, RecentErrors errors, TimeProvider time) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            string message = formatter(state, exception);
            if (exception is not null && !message.Contains(exception.Message, StringComparison.Ordinal))
            {
                message += $" ({exception.GetType().Name}: {exception.Message})";
            }

            errors.Add(new RecentError(time.GetUtcNow(), logLevel, eventId.Id, category, message));
        }
    }
}
