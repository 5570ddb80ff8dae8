using ActorCluster.Core.Selectors;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace ActorCluster.Core.Tests;

public class LabelSelectorTests
{
    private static IReadOnlyDictionary<string, string> L(params string[] pairs) =>
        pairs.Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);

    [Fact]
    public void Full_syntax_parses_matches_and_prints_sorted_by_key()
    {
        var s = LabelSelector.Parse("h notin (z), !g,a=b,c!=d,e in (y,x),f");
        Assert.Equal("a=b,c!=d,e in (x,y),f,!g,h notin (z)", s.ToString());
        Assert.True(s.Matches(L("a=b", "e=x", "f=1")));
        Assert.True(s.Matches(L("a=b", "e=y", "f=1", "c=e", "h=q")));
        Assert.False(s.Matches(L("a=b", "e=x", "f=1", "c=d")));  // c!=d
        Assert.False(s.Matches(L("a=b", "e=z", "f=1")));         // e in (x,y)
        Assert.False(s.Matches(L("a=b", "e=x")));                // f exists
        Assert.False(s.Matches(L("a=b", "e=x", "f=1", "g=1")));  // !g
        Assert.False(s.Matches(L("a=b", "e=x", "f=1", "h=z")));  // h notin (z)
    }

    [Fact]
    public void Edge_forms_follow_apimachinery()
    {
        Assert.Equal("x=", LabelSelector.Parse("x=").ToString());
        Assert.Equal("x==y", LabelSelector.Parse("x==y").ToString());
        Assert.Equal("a in ()", LabelSelector.Parse("a in ()").ToString());
        Assert.Equal("a in (,x,y)", LabelSelector.Parse("a in (x,,y)").ToString());
        Assert.True(LabelSelector.Parse("in in (notin)").Matches(L("in=notin")));
        Assert.True(LabelSelector.Parse("n>5,m<3").Matches(L("n=6", "m=2")));
        Assert.False(LabelSelector.Parse("n>5").Matches(L("n=five")));
        Assert.True(LabelSelector.Parse("").IsEmpty);
        Assert.True(LabelSelector.Parse("").Matches(L("a=b")));
    }

    public static TheoryData<string, string> ParseErrors => new()
    {
        { "a=b=c", "found '=', expected: ',' or 'end of string'" },
        { "a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt" },
        { "a in x", "unable to parse requirement: found 'x' expected: '('" },
        { "a in (x", "unable to parse requirement: found '', expected: ',' or ')'" },
        { "a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'" },
        { ",", "found ',', expected: !, identifier, or 'end of string'" },
        { "a,", "found '', expected: identifier after ','" },
        { "!", "unable to parse requirement: found '', expected: identifier" },
        { "a=>b", "unable to parse requirement: found '>', expected: identifier" },
        { "a>b", "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer" },
        { "a=-b", "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" },
        { "a/b/c=x", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')" },
        { "a&b", "unable to parse requirement: <nil>: Invalid value: \"a&b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')" },
    };

    [Theory]
    [MemberData(nameof(ParseErrors))]
    public void Parse_errors_are_apimachinery_words(string selector, string expected)
    {
        Assert.False(LabelSelector.TryParse(selector, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Service_selector_is_an_equality_map_and_empty_selects_nothing()
    {
        var s = LabelSelector.FromSet(new Dictionary<string, string> { ["tier"] = "web", ["app"] = "pod" })!;
        Assert.Equal("app=pod,tier=web", s.ToString());
        Assert.True(s.Matches(L("app=pod", "tier=web", "x=y")));
        Assert.False(s.Matches(L("app=pod")));
        Assert.Null(LabelSelector.FromSet(new Dictionary<string, string>()));
        Assert.Null(LabelSelector.FromSet(null));
    }

    /// <summary>One requirement of a generated selector: its key, operator (0-7) and values, always valid.</summary>
    public sealed record RequirementDraft(string Key, int Operator, string Value, string[] Members, bool Greater, int Number)
    {
        public override string ToString() => Operator switch
        {
            0 => $"{Key}={Value}",
            1 => $"{Key}=={Value}",
            2 => $"{Key}!={Value}",
            3 => $"{Key} in ({string.Join(",", Members)})",
            4 => $"{Key} notin ({string.Join(",", Members)})",
            5 => Key,
            6 => "!" + Key,
            _ => $"{Key}{(Greater ? ">" : "<")}{Number}", // negative numbers are not valid label values
        };
    }

    private static Gen<string> Word(string alphabet, int min, int max) =>
        from n in Gen.Choose(min, max) from chars in Gen.ArrayOf(Gen.Elements(alphabet.ToCharArray()), n) select new string(chars);

    private static readonly Gen<RequirementDraft> Requirements =
        from prefixed in Gen.Frequency((3, Gen.Constant(false)), (1, Gen.Constant(true)))
        from name in Word("abcde", 1, 3)
        from op in Gen.Choose(0, 7)
        from value in Word("ab1", 0, 2)
        // Set members are non-empty: Go's parser itself rejects some empty-member spellings such as "(x,,)".
        from memberCount in Gen.Choose(1, 3)
        from members in Gen.ArrayOf(Word("ab1", 1, 2), memberCount)
        from greater in Gen.Elements(false, true)
        from number in Gen.Choose(0, 49)
        select new RequirementDraft((prefixed ? "ex.com/" : "") + name, op, value, members, greater, number);

    /// <summary>A selector text: requirements with distinct keys (one per key keeps Go's unstable sort irrelevant), joined by "," or " , ".</summary>
    public sealed record SelectorDraft(List<RequirementDraft> Parts, bool Spaced)
    {
        public override string ToString() => string.Join(Spaced ? " , " : ",", Parts.DistinctBy(p => p.Key));
    }

    private static readonly Arbitrary<SelectorDraft> Selectors =
        Arb.From(
            from parts in Generators.ShrinkingList(Requirements, 5).Generator
            from spaced in Gen.Elements(false, true)
            select new SelectorDraft(parts, spaced),
            s => Generators.DropOne(s.Parts).Select(p => s with { Parts = p }));

    [Property(MaxTest = 500)]
    public Property Parse_then_print_round_trips() => Prop.ForAll(Selectors, draft =>
    {
        var parsed = LabelSelector.Parse(draft.ToString());
        var reparsed = LabelSelector.Parse(parsed.ToString());
        return parsed.Equals(reparsed) && parsed.ToString() == reparsed.ToString();
    });

    /// <summary>A label set for a selector's keys: per key, absent, one of the selector's values, or a number.</summary>
    private static readonly Gen<List<(int Choice, int Pick, int Number)>> LabelChoices =
        Gen.ListOf(from choice in Gen.Choose(0, 2) from pick in Gen.Choose(0, 9) from number in Gen.Choose(-60, 59) select (choice, pick, number), 6).Select(l => l.ToList());

    [Property(MaxTest = 300)]
    public Property Printed_selector_matches_the_same_label_sets() => Prop.ForAll(Selectors, Gen.ListOf(LabelChoices, 20).ToArbitrary(), (draft, labelSets) =>
    {
        var parsed = LabelSelector.Parse(draft.ToString());
        var reparsed = LabelSelector.Parse(parsed.ToString());
        foreach (var choices in labelSets)
        {
            var labels = new Dictionary<string, string>();
            foreach (var (req, (choice, pick, number)) in parsed.Requirements.Zip(choices))
            {
                if (choice == 0) continue;
                labels[req.Key] = req.Values.Count > 0 && choice == 1 ? req.Values[pick % req.Values.Count] : number.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            if (parsed.Matches(labels) != reparsed.Matches(labels)) return false;
        }
        return true;
    });
}
