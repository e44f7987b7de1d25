using System.Net;
using ChunkStore.Server.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>
/// Write sessions as leases: the library's complete → publish → dispose protocol over HTTP, and what expiry means for
/// the garbage collector (a lease nobody renews stops holding the cutoff; a renewed one keeps its chunks).
/// </summary>
public sealed class LeaseTests
{
    [Fact]
    public async Task Lease_OpenInsertCompleteClose_FollowsTheWriteSessionProtocol()
    {
        await using var server = await TestServer.StartAsync();
        var client = server.Writer;
        var lease = await client.OpenLeaseAsync();
        Assert.False(lease.Completed);
        Assert.True(lease.ExpiresAt > lease.StartedAt);
        Assert.Single(Directory.GetFiles(Path.Combine(server.Root, ".writers")));

        var chunk = Api.RandomChunk(1234, seed: 1);
        var put = await client.PutAsync(chunk, $"/sessions/{lease.Id}/chunks");
        Assert.True(put.IsNew);
        Assert.False((await client.PutAsync(chunk, $"/sessions/{lease.Id}/chunks")).IsNew);

        var state = await Api.ReadAsync<LeaseState>(await client.GetAsync($"/sessions/{lease.Id}"));
        Assert.Equal((2, 1, 2 * 1234L), (state.Chunks, state.NewChunks, state.Bytes));

        var completed = await Api.ReadAsync<LeaseState>(await client.PostAsync($"/sessions/{lease.Id}/complete", null));
        Assert.True(completed.Completed);

        // Completed: no more writes, but the lease still protects (the client publishes its index now) and can be renewed.
        await Api.ProblemAsync(await client.PutAsync($"/sessions/{lease.Id}/chunks", new ByteArrayContent([1, 2, 3])), HttpStatusCode.Conflict);
        await Api.ProblemAsync(await client.PostDigestsAsync($"/sessions/{lease.Id}/touch", [put.Digest]), HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/sessions/{lease.Id}/renew", null)).StatusCode);
        Assert.Single(Directory.GetFiles(Path.Combine(server.Root, ".writers")));

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/sessions/{lease.Id}")).StatusCode);
        Assert.Empty(Directory.GetFiles(Path.Combine(server.Root, ".writers")));
        var again = await Api.ProblemAsync(await client.DeleteAsync($"/sessions/{lease.Id}"), HttpStatusCode.Gone);
        Assert.Equal("Closed", again.Reason);
        await Api.ProblemAsync(await client.PostAsync("/sessions/0123456789abcdef0123456789abcdef/renew", null), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Lease_NotRenewed_ExpiresAndNoLongerHoldsTheGcCutoff()
    {
        await using var server = await TestServer.StartAsync([.. TestServer.ShortGc, ("ChunkServer:Leases:Ttl", "00:00:01"), ("ChunkServer:Leases:SweepInterval", "00:00:00.100")]);
        var lease = await server.Writer.OpenLeaseAsync();
        var put = await server.Writer.PutAsync(Api.RandomChunk(777, seed: 2), $"/sessions/{lease.Id}/chunks");

        // The client "crashes": no renewal, no close. The server ends the lease after its TTL.
        await Task.Delay(2500);
        var gone = await Api.ProblemAsync(await server.Writer.PostAsync($"/sessions/{lease.Id}/renew", null), HttpStatusCode.Gone);
        Assert.Equal("Expired", gone.Reason);
        await Api.ProblemAsync(await server.Writer.PutAsync($"/sessions/{lease.Id}/chunks", new ByteArrayContent([9])), HttpStatusCode.Gone);
        Assert.Empty(Directory.GetFiles(Path.Combine(server.Root, ".writers")));

        // No live writer: the cutoff is the collection's own start minus the grace period, and the chunk goes.
        var gc = await server.Writer.GcAsync([], "?count=0");
        Assert.Equal(gc.StartedAt, gc.OldestWriter);
        Assert.Equal(1, gc.ChunksRemoved);
        Assert.DoesNotContain(put.Digest, (await server.ListAsync()).Select(d => d.ToString()));

        var status = await Api.ReadAsync<System.Text.Json.JsonElement>(await server.Anonymous.GetAsync("/status.json"));
        Assert.Equal(1, status.GetProperty("leases").GetProperty("expiredTotal").GetInt64());
        Assert.Equal(0, status.GetProperty("leases").GetProperty("active").GetInt32());
    }

    [Fact]
    public async Task Lease_RenewedWithinItsTtl_StaysLiveAndKeepsItsChunksThroughGc()
    {
        await using var server = await TestServer.StartAsync([.. TestServer.ShortGc, ("ChunkServer:Leases:Ttl", "00:00:03"), ("ChunkServer:Leases:SweepInterval", "00:00:00.100")]);
        var lease = await server.Writer.OpenLeaseAsync();
        var put = await server.Writer.PutAsync(Api.RandomChunk(888, seed: 3), $"/sessions/{lease.Id}/chunks");
        var expires = lease.ExpiresAt;
        for (int i = 0; i < 8; i++)
        {
            await Task.Delay(500);
            var renewed = await Api.ReadAsync<LeaseState>(await server.Writer.PostAsync($"/sessions/{lease.Id}/renew", null));
            Assert.True(renewed.ExpiresAt > expires, "a renewal moves the expiry forward");
            expires = renewed.ExpiresAt;
        }

        // 4 s after the insert, with a 1 s grace period: only the live lease keeps the chunk.
        var gc = await server.Writer.GcAsync([], "?count=0");
        Assert.Equal(0, gc.ChunksRemoved);
        Assert.Equal(1, gc.ChunksInUse);
        Assert.True(Math.Abs((gc.OldestWriter - lease.StartedAt).TotalMilliseconds) < 2, $"cutoff held at the lease's start: {gc.OldestWriter:O} vs {lease.StartedAt:O}");
        Assert.Contains(put.Digest, (await server.ListAsync()).Select(d => d.ToString()));

        // Closed, and past the grace period: now it goes.
        Assert.Equal(HttpStatusCode.NoContent, (await server.Writer.DeleteAsync($"/sessions/{lease.Id}")).StatusCode);
        await Task.Delay(1200);
        Assert.Equal(1, (await server.Writer.GcAsync([], "?count=0")).ChunksRemoved);
    }

    [Fact]
    public async Task Lease_PastItsMaximumLifetime_EndsAlthoughItIsRenewed()
    {
        // The TTL is close to the maximum lifetime: from half a second on, every renewal would reach past the deadline
        // (and must be clamped to it), and only a renewal gap of 2.5 s (a very loaded machine) could let the lease
        // expire by its TTL first. With a 1 s TTL a CI machine under load did exactly that (reason Expired).
        await using var server = await TestServer.StartAsync(("ChunkServer:Leases:Ttl", "00:00:02.500"), ("ChunkServer:Leases:MaxLifetime", "00:00:03"));
        var lease = await server.Writer.OpenLeaseAsync();
        Assert.Equal(lease.StartedAt + TimeSpan.FromSeconds(3), lease.Deadline);
        HttpResponseMessage response;
        int clamped = 0;
        do
        {
            await Task.Delay(250);
            response = await server.Writer.PostAsync($"/sessions/{lease.Id}/renew", null);
            if (response.IsSuccessStatusCode)
            {
                var expiresAt = (await Api.ReadAsync<LeaseState>(response)).ExpiresAt;
                Assert.True(expiresAt <= lease.Deadline, "a renewal never goes past the deadline");
                clamped += expiresAt == lease.Deadline ? 1 : 0;
            }
        }
        while (response.IsSuccessStatusCode && DateTimeOffset.UtcNow < lease.Deadline + TimeSpan.FromSeconds(5));

        Assert.True(clamped > 0, "no renewal was answered with the deadline as its expiry");
        var problem = await Api.ProblemAsync(response, HttpStatusCode.Gone);
        Assert.Equal("MaxLifetime", problem.Reason);
        Assert.True(DateTimeOffset.UtcNow >= lease.Deadline);
        Assert.Empty(Directory.GetFiles(Path.Combine(server.Root, ".writers")));
    }

    [Fact]
    public async Task Touch_ThroughALease_ProtectsPresentChunksAndListsTheMissingOnes()
    {
        await using var server = await TestServer.StartAsync(TestServer.ShortGc);
        var present = await server.Writer.PutAsync(Api.RandomChunk(600, seed: 4));
        string missing = Api.Hex(Api.RandomChunk(600, seed: 5));
        await Task.Delay(1200);

        var lease = await server.Writer.OpenLeaseAsync();
        var touch = await Api.ReadAsync<TouchResult>(await server.Writer.PostDigestsAsync($"/sessions/{lease.Id}/touch", [present.Digest, missing, "# a comment", ""]));
        Assert.Equal(1, touch.Touched);
        Assert.Equal([missing], touch.Missing);

        // Older than the grace period, referenced by nothing: only the lease's touch keeps it.
        var kept = await server.Writer.GcAsync([], "?count=0");
        Assert.Equal((0, 1), (kept.ChunksRemoved, kept.ChunksInUse));

        Assert.Equal(HttpStatusCode.NoContent, (await server.Writer.DeleteAsync($"/sessions/{lease.Id}")).StatusCode);
        await Task.Delay(1200);
        Assert.Equal(1, (await server.Writer.GcAsync([], "?count=0")).ChunksRemoved);
    }

    [Fact]
    public async Task OpenLease_BeyondMaxActive_Is429()
    {
        await using var server = await TestServer.StartAsync(("ChunkServer:Leases:MaxActive", "2"));
        var first = await server.Writer.OpenLeaseAsync();
        await server.Writer.OpenLeaseAsync();
        await Api.ProblemAsync(await server.Writer.PostAsync("/sessions", null), HttpStatusCode.TooManyRequests);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(server.Root, ".writers")).Length);

        await server.Writer.DeleteAsync($"/sessions/{first.Id}");
        await server.Writer.OpenLeaseAsync();
    }
}
