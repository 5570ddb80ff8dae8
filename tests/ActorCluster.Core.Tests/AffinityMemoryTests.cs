using ActorCluster.Core.Routing;

namespace ActorCluster.Core.Tests;

public class AffinityMemoryTests
{
    private static readonly DateTime Start = new(2026, 12, 2, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void An_entry_idle_for_the_timeout_is_forgotten_by_the_next_write_after_the_sweep_interval()
    {
        var memory = new AffinityMemory();
        memory.Remember("10.0.0.1", new AffinityEntry("127.244.1.2:8080", Start), timeoutSeconds: 10);
        memory.Remember("10.0.0.2", new AffinityEntry("127.244.1.2:8080", Start.AddSeconds(5)), timeoutSeconds: 10);
        Assert.Equal(2, memory.Count);

        // 10 s after the first client's last use: it goes, the second (idle 5 s) stays.
        memory.Remember("10.0.0.3", new AffinityEntry("127.244.2.2:8080", Start.AddSeconds(10)), timeoutSeconds: 10);
        Assert.Null(memory.Get("10.0.0.1"));
        Assert.NotNull(memory.Get("10.0.0.2"));
        Assert.Equal(2, memory.Count);
    }

    [Fact]
    public void Using_an_entry_keeps_it()
    {
        var memory = new AffinityMemory();
        for (var s = 0; s <= 60; s += 5)
            memory.Remember("10.0.0.1", new AffinityEntry("127.244.1.2:8080", Start.AddSeconds(s)), timeoutSeconds: 10);
        Assert.Equal("127.244.1.2:8080", memory.Get("10.0.0.1")?.EndpointAddress);
        Assert.Equal(1, memory.Count);
    }

    [Fact]
    public void A_full_memory_takes_no_new_client_until_entries_expire()
    {
        var memory = new AffinityMemory(capacity: 3);
        for (var i = 0; i < 3; i++) memory.Remember($"10.0.0.{i}", new AffinityEntry("e:1", Start), timeoutSeconds: 100);
        memory.Remember("10.0.0.9", new AffinityEntry("e:1", Start.AddSeconds(1)), timeoutSeconds: 100);
        Assert.Null(memory.Get("10.0.0.9"));
        Assert.Equal(3, memory.Count);
        // A known client is still refreshed while full.
        memory.Remember("10.0.0.0", new AffinityEntry("e:2", Start.AddSeconds(2)), timeoutSeconds: 100);
        Assert.Equal("e:2", memory.Get("10.0.0.0")?.EndpointAddress);

        // Once the others have been idle for the timeout, a new client finds room.
        memory.Remember("10.0.0.9", new AffinityEntry("e:1", Start.AddSeconds(101)), timeoutSeconds: 100);
        Assert.NotNull(memory.Get("10.0.0.9"));
        Assert.Equal(2, memory.Count); // 10.0.0.0 (used at +2 s) and 10.0.0.9
    }

    [Fact]
    public void Many_loops_remembering_at_once_never_exceed_the_capacity_and_count_what_they_hold()
    {
        var memory = new AffinityMemory(capacity: 500);
        Parallel.For(0, 8, loop =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var now = Start.AddMilliseconds(i * 10);
                memory.Remember($"10.{loop}.{i / 250}.{i % 250}", new AffinityEntry("e:1", now), timeoutSeconds: 3);
            }
        });
        Assert.InRange(memory.Count, 1, 500);
        // The count agrees with what is held (every entry reachable, none counted twice).
        memory.Sweep(Start.AddYears(1), 3);
        Assert.Equal(0, memory.Count);
    }
}
