using System.Reflection;
using ChunkStore.Diagnostics;

namespace ChunkStore.Tests.Diagnostics;

/// <summary>
/// The switches that turn a protection off for the torture harness exist only in its build (configuration
/// <c>Torture</c>, constant <c>CHUNKSTORE_FAULT_SWITCHES</c>). In every other build — the packages, these tests —
/// each is a property that returns false, so nothing (not even reflection) can turn a protection off.
/// </summary>
public sealed class FaultSwitchTests
{
    [Fact]
    public void ShippedBuild_HasNoSettableSwitch()
    {
        var type = typeof(FaultSwitches);
        var fields = type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic).Select(f => f.Name);
        var setters = type.GetProperties(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic).Where(p => p.CanWrite).Select(p => p.Name);

        Assert.Empty(fields);
        Assert.Empty(setters);
    }

    [Fact]
    public void ShippedBuild_EverySwitchIsOff()
    {
        var switches = typeof(FaultSwitches).GetProperties(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public);

        Assert.NotEmpty(switches);
        Assert.All(switches, p => Assert.False((bool)p.GetValue(null)!, p.Name));
    }
}
