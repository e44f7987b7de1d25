using ChunkStore.Remote;

namespace ChunkStore.Tests.Remote;

/// <summary>Listing pages (<see cref="RemoteStorage.ListAsync"/>): the next page is asked for while the caller works on
/// the current one, and a page asked for ahead never turns into a lost or unobserved failure.</summary>
public sealed class RemoteListingTests
{
    private static InMemoryRemoteStorage StorageWith(int objects)
    {
        var storage = new InMemoryRemoteStorage(pageSize: 7);
        for (int i = 0; i < objects; i++)
        {
            storage.SetRaw($"p/{i:d4}", [1]);
        }

        return storage;
    }

    /// <summary>Makes the second listing request fail; returns the count of requests so far.</summary>
    private static Func<int> FailSecondRequest(InMemoryRemoteStorage storage)
    {
        int requests = 0;
        storage.BeforeList = _ =>
        {
            if (++requests == 2)
            {
                throw new ChunkStorageException("list refused by the test", StorageErrorKind.Network, isTransient: false, innerException: null);
            }
        };
        return () => requests;
    }

    [Fact]
    public async Task Listing_AsksForTheNextPageWhileTheCallerWorksOnThisOne()
    {
        var storage = StorageWith(20); // pages of 7, 7, 6
        var asked = new List<string?>();
        storage.BeforeList = asked.Add;
        var seen = new List<int>();

        await foreach (var page in storage.ListAsync("p/", default))
        {
            // While the caller holds page k, page k + 1 is already asked for (if there is one).
            seen.Add(asked.Count);
        }

        Assert.Equal([2, 3, 3], seen);
        Assert.Equal(3, asked.Count); // no request beyond the last page
        Assert.Null(asked[0]);
    }

    [Fact]
    public async Task Listing_FailedPage_FailsWhenTheCallerGetsToIt()
    {
        var storage = StorageWith(20);
        _ = FailSecondRequest(storage);
        int pages = 0;

        var ex = await Assert.ThrowsAsync<ChunkStorageException>(async () =>
        {
            await foreach (var page in storage.ListAsync("p/", default))
            {
                pages++;
            }
        });

        Assert.Equal(1, pages); // the first page was handed out whole before the failure of the second surfaced
        Assert.Contains("refused by the test", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Listing_StoppedEarly_LeavesNoUnobservedFailure()
    {
        var storage = StorageWith(20);
        var requests = FailSecondRequest(storage);
        int unobserved = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) =>
        {
            if (e.Exception.InnerExceptions.Any(x => x.Message.Contains("refused by the test", StringComparison.Ordinal)))
            {
                Interlocked.Increment(ref unobserved);
            }
        };
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            await foreach (var page in storage.ListAsync("p/", default))
            {
                break; // the caller found what it wanted on the first page
            }

            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }

        Assert.Equal(2, requests());
        Assert.Equal(0, unobserved);
    }
}
