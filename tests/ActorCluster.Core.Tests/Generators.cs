using FsCheck;
using FsCheck.Fluent;

namespace ActorCluster.Core.Tests;

/// <summary>
/// FsCheck helpers shared by the property tests: inputs are generated values (records), never a seeded
/// <see cref="Random"/> inside the test, so a failing case is printed and shrunk to a small one.
/// </summary>
internal static class Generators
{
    /// <summary>A list of <paramref name="item"/> that shrinks by dropping one element at a time.</summary>
    public static Arbitrary<List<T>> ShrinkingList<T>(Gen<T> item, int maxLength) =>
        Arb.From(
            from n in Gen.Choose(0, maxLength)
            from items in Gen.ListOf(item, n)
            select items.ToList(),
            DropOne);

    /// <summary>Every list with one element fewer: the shrink step for a sequence of operations.</summary>
    public static IEnumerable<List<T>> DropOne<T>(List<T> items) =>
        Enumerable.Range(0, items.Count).Select(i => items.Where((_, j) => j != i).ToList());
}
