using ActorCluster.Core.Selectors;
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

    /// <summary>Builds a random selector text from parts that are always valid.</summary>
    internal static string RandomSelectorText(Random r)
    {
        string Key() => (r.Next(4) == 0 ? "ex.com/" : "") + new string(Enumerable.Range(0, r.Next(1, 4)).Select(_ => (char)('a' + r.Next(5))).ToArray());
        string Value() => new string(Enumerable.Range(0, r.Next(0, 3)).Select(_ => "ab1-_."[r.Next(3)]).ToArray());
        // Set members are non-empty: Go's parser itself rejects some empty-member spellings such as "(x,,)".
        string Member() => new string(Enumerable.Range(0, r.Next(1, 3)).Select(_ => "ab1"[r.Next(3)]).ToArray());
        var parts = new List<string>();
        var keys = new HashSet<string>();
        for (var i = 0; i < r.Next(0, 6); i++)
        {
            var key = Key();
            if (!keys.Add(key)) continue; // one requirement per key keeps Go's unstable sort irrelevant
            parts.Add(r.Next(8) switch
            {
                0 => $"{key}={Value()}",
                1 => $"{key}=={Value()}",
                2 => $"{key}!={Value()}",
                3 => $"{key} in ({string.Join(",", Enumerable.Range(0, r.Next(1, 4)).Select(_ => Member()))})",
                4 => $"{key} notin ({string.Join(",", Enumerable.Range(0, r.Next(1, 4)).Select(_ => Member()))})",
                5 => key,
                6 => "!" + key,
                _ => $"{key}{(r.Next(2) == 0 ? ">" : "<")}{r.Next(0, 50)}",  // negative numbers are not valid label values
            });
        }
        return string.Join(r.Next(2) == 0 ? "," : " , ", parts);
    }

    [Property(MaxTest = 500)]
    public bool Parse_then_print_round_trips(int seed)
    {
        var text = RandomSelectorText(new Random(seed));
        var parsed = LabelSelector.Parse(text);
        var reparsed = LabelSelector.Parse(parsed.ToString());
        return parsed.Equals(reparsed) && parsed.ToString() == reparsed.ToString();
    }

    [Property(MaxTest = 300)]
    public bool Printed_selector_matches_the_same_label_sets(int seed)
    {
        var r = new Random(seed);
        var parsed = LabelSelector.Parse(RandomSelectorText(r));
        var reparsed = LabelSelector.Parse(parsed.ToString());
        for (var i = 0; i < 20; i++)
        {
            var labels = new Dictionary<string, string>();
            foreach (var req in parsed.Requirements)
            {
                if (r.Next(3) == 0) continue;
                labels[req.Key] = req.Values.Count > 0 && r.Next(2) == 0 ? req.Values[r.Next(req.Values.Count)] : r.Next(-60, 60).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            if (parsed.Matches(labels) != reparsed.Matches(labels)) return false;
        }
        return true;
    }
}
