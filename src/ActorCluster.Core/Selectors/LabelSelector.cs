// Over 350 lines on purpose: a port of apimachinery's labels/selector.go (lexer, parser, matcher and printer), kept
// together as there so its behaviour can be compared function by function.
using System.Globalization;
using ActorCluster.Core.Api;
using ActorCluster.Core.Validation;

namespace ActorCluster.Core.Selectors;

public enum SelectorOperator
{
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// <summary>One requirement of a label selector (apimachinery labels.Requirement). Values are kept sorted.</summary>
public sealed record LabelRequirement(string Key, SelectorOperator Operator, IReadOnlyList<string> Values)
{
    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        var has = labels.TryGetValue(Key, out var value);
        switch (Operator)
        {
            case SelectorOperator.Equals or SelectorOperator.DoubleEquals or SelectorOperator.In:
                return has && Values.Contains(value!);
            case SelectorOperator.NotEquals or SelectorOperator.NotIn:
                return !has || !Values.Contains(value!);
            case SelectorOperator.Exists:
                return has;
            case SelectorOperator.DoesNotExist:
                return !has;
            case SelectorOperator.GreaterThan or SelectorOperator.LessThan:
                if (!has || !long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var actual)) return false;
                if (Values.Count != 1 || !long.TryParse(Values[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var bound)) return false;
                return Operator == SelectorOperator.GreaterThan ? actual > bound : actual < bound;
            default:
                return false;
        }
    }

    public override string ToString()
    {
        var prefix = Operator == SelectorOperator.DoesNotExist ? "!" : "";
        var op = Operator switch
        {
            SelectorOperator.Equals => "=",
            SelectorOperator.DoubleEquals => "==",
            SelectorOperator.NotEquals => "!=",
            SelectorOperator.In => " in ",
            SelectorOperator.NotIn => " notin ",
            SelectorOperator.GreaterThan => ">",
            SelectorOperator.LessThan => "<",
            _ => null,
        };
        if (op is null) return prefix + Key;
        var values = string.Join(",", Values);
        return Operator is SelectorOperator.In or SelectorOperator.NotIn ? $"{Key}{op}({values})" : Key + op + values;
    }

    public bool Equals(LabelRequirement? other) =>
        other is not null && Key == other.Key && Operator == other.Operator && Values.SequenceEqual(other.Values);

    public override int GetHashCode() => HashCode.Combine(Key, Operator, Values.Count);
}

/// <summary>
/// A label selector: the equality map of a Service, or the full list-query syntax
/// (<c>a=b,c!=d,e in (x,y),f notin (z),g,!h</c>) parsed exactly as apimachinery parses it, with its error texts.
/// Immutable; requirements are sorted by key, as Kubernetes sorts them.
/// </summary>
public sealed class LabelSelector : IEquatable<LabelSelector>
{
    private static readonly string BinaryOperators = string.Join(", ", "in", "notin", "=", "==", "!=", "gt", "lt");

    public static readonly LabelSelector Everything = new([]);

    private LabelSelector(IReadOnlyList<LabelRequirement> requirements) => Requirements = requirements;

    public IReadOnlyList<LabelRequirement> Requirements { get; }

    public bool IsEmpty => Requirements.Count == 0;

    /// <summary>A Service's <c>spec.selector</c>: every key must equal its value. Null or empty selects nothing.</summary>
    public static LabelSelector? FromSet(IDictionary<string, string>? set)
    {
        if (set is null || set.Count == 0) return null;
        return new LabelSelector(set
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new LabelRequirement(kv.Key, SelectorOperator.Equals, [kv.Value]))
            .ToList());
    }

    /// <summary>
    /// metav1.LabelSelectorAsSelector: matchLabels as equalities, matchExpressions (In, NotIn, Exists, DoesNotExist)
    /// as requirements. Null or empty selects nothing (null is returned); a malformed one throws FormatException.
    /// </summary>
    public static LabelSelector? FromApi(k8s.Models.V1LabelSelector? selector)
    {
        if (selector is null || (selector.MatchLabels is not { Count: > 0 } && selector.MatchExpressions is not { Count: > 0 })) return null;
        var parts = new List<string>();
        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>()) parts.Add($"{key}={value}");
        foreach (var e in selector.MatchExpressions ?? [])
        {
            parts.Add(e.OperatorProperty switch
            {
                "In" => $"{e.Key} in ({string.Join(",", e.Values ?? [])})",
                "NotIn" => $"{e.Key} notin ({string.Join(",", e.Values ?? [])})",
                "Exists" => e.Key,
                "DoesNotExist" => "!" + e.Key,
                _ => throw new FormatException($"{GoFormat.Quote(e.OperatorProperty ?? "")} is not a valid label selector operator"),
            });
        }
        return Parse(string.Join(",", parts));
    }

    /// <summary>A workload's selector, or null when it selects nothing or cannot be parsed (validation reports that).</summary>
    public static LabelSelector? TryFromApi(k8s.Models.V1LabelSelector? selector)
    {
        try
        {
            return FromApi(selector);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>metav1.FormatLabelSelector: what kubectl's SELECTOR column shows (<c>&lt;none&gt;</c> for nothing).</summary>
    public static string Format(k8s.Models.V1LabelSelector? selector)
    {
        try
        {
            var parsed = FromApi(selector);
            return parsed is null || parsed.IsEmpty ? "<none>" : parsed.ToString();
        }
        catch (FormatException)
        {
            return "<error>";
        }
    }

    public bool MatchesLabels(IDictionary<string, string>? labels) =>
        Matches(labels is null ? new Dictionary<string, string>() : labels.AsReadOnly());

    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var r in Requirements)
        {
            if (!r.Matches(labels)) return false;
        }
        return true;
    }

    public override string ToString() => string.Join(",", Requirements);

    public bool Equals(LabelSelector? other) => other is not null && Requirements.SequenceEqual(other.Requirements);

    public override bool Equals(object? obj) => Equals(obj as LabelSelector);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    public static bool TryParse(string text, out LabelSelector selector, out string error)
    {
        try
        {
            selector = Parse(text);
            error = "";
            return true;
        }
        catch (FormatException e)
        {
            selector = Everything;
            error = e.Message;
            return false;
        }
    }

    /// <summary>labels.Parse: throws <see cref="FormatException"/> carrying Kubernetes' message.</summary>
    public static LabelSelector Parse(string text)
    {
        var parser = new Parser(Lex(text));
        var requirements = parser.ParseAll();
        // Go uses an unstable sort by key; a stable one gives the same result for distinct keys.
        return new LabelSelector(requirements.OrderBy(r => r.Key, StringComparer.Ordinal).ToList());
    }

    private enum Token
    {
        Error,
        EndOfString,
        ClosedPar,
        Comma,
        DoesNotExist,
        DoubleEquals,
        Equals,
        GreaterThan,
        Identifier,
        In,
        LessThan,
        NotEquals,
        NotIn,
        OpenPar,
    }

    private static readonly Dictionary<string, Token> Keywords = new(StringComparer.Ordinal)
    {
        [")"] = Token.ClosedPar,
        [","] = Token.Comma,
        ["!"] = Token.DoesNotExist,
        ["=="] = Token.DoubleEquals,
        ["="] = Token.Equals,
        [">"] = Token.GreaterThan,
        ["in"] = Token.In,
        ["<"] = Token.LessThan,
        ["!="] = Token.NotEquals,
        ["notin"] = Token.NotIn,
        ["("] = Token.OpenPar,
    };

    private static bool IsWhitespace(char c) => c is ' ' or '\t' or '\r' or '\n';

    private static bool IsSpecial(char c) => c is '=' or '!' or '(' or ')' or ',' or '>' or '<';

    private static List<(Token Tok, string Lit)> Lex(string s)
    {
        var items = new List<(Token, string)>();
        var pos = 0;
        char Read() => pos < s.Length ? s[pos++] : '\0';
        while (true)
        {
            var ch = Read();
            while (IsWhitespace(ch)) ch = Read();
            if (ch == '\0')
            {
                items.Add((Token.EndOfString, ""));
                return items;
            }
            pos--;
            if (IsSpecial(ch))
            {
                var buffer = "";
                (Token Tok, string Lit)? last = null;
                while (true)
                {
                    var c = Read();
                    if (c == '\0') break;
                    if (!IsSpecial(c))
                    {
                        pos--;
                        break;
                    }
                    buffer += c;
                    if (Keywords.TryGetValue(buffer, out var t)) last = (t, buffer);
                    else if (last is not null)
                    {
                        pos--;
                        break;
                    }
                }
                items.Add(last ?? (Token.Error, $"error expected: keyword found '{buffer}'"));
            }
            else
            {
                var start = pos;
                while (pos < s.Length && s[pos] != '\0' && !IsSpecial(s[pos]) && !IsWhitespace(s[pos])) pos++;
                var word = s[start..pos];
                items.Add(Keywords.TryGetValue(word, out var t) ? (t, word) : (Token.Identifier, word));
            }
        }
    }

    /// <summary>apimachinery's recursive-descent selector parser, context and all.</summary>
    private sealed class Parser(List<(Token Tok, string Lit)> items)
    {
        private int _position;

        // In a value position the keywords "in" and "notin" are plain identifiers.
        private (Token Tok, string Lit) Lookahead(bool values)
        {
            var (tok, lit) = items[Math.Min(_position, items.Count - 1)];
            if (values && tok is Token.In or Token.NotIn) tok = Token.Identifier;
            return (tok, lit);
        }

        private (Token Tok, string Lit) Consume(bool values)
        {
            var item = Lookahead(values);
            _position++;
            return item;
        }

        public List<LabelRequirement> ParseAll()
        {
            var requirements = new List<LabelRequirement>();
            while (true)
            {
                var (tok, lit) = Lookahead(values: true);
                switch (tok)
                {
                    case Token.Identifier or Token.DoesNotExist:
                        LabelRequirement r;
                        try
                        {
                            r = ParseRequirement();
                        }
                        catch (FormatException e)
                        {
                            throw new FormatException("unable to parse requirement: " + e.Message);
                        }
                        requirements.Add(r);
                        var (t, l) = Consume(values: true);
                        switch (t)
                        {
                            case Token.EndOfString:
                                return requirements;
                            case Token.Comma:
                                var (t2, l2) = Lookahead(values: true);
                                if (t2 is not (Token.Identifier or Token.DoesNotExist))
                                    throw new FormatException($"found '{l2}', expected: identifier after ','");
                                break;
                            default:
                                throw new FormatException($"found '{l}', expected: ',' or 'end of string'");
                        }
                        break;
                    case Token.EndOfString:
                        return requirements;
                    default:
                        throw new FormatException($"found '{lit}', expected: !, identifier, or 'end of string'");
                }
            }
        }

        private LabelRequirement ParseRequirement()
        {
            var (key, op) = ParseKeyAndInferOperator();
            if (op is SelectorOperator.Exists or SelectorOperator.DoesNotExist)
                return NewRequirement(key, op.Value, []);
            var binary = ParseOperator();
            var values = binary is SelectorOperator.In or SelectorOperator.NotIn ? ParseValues() : ParseExactValue();
            return NewRequirement(key, binary, values.Order(StringComparer.Ordinal).ToList());
        }

        private (string Key, SelectorOperator? Op) ParseKeyAndInferOperator()
        {
            SelectorOperator? op = null;
            var (tok, lit) = Consume(values: true);
            if (tok == Token.DoesNotExist)
            {
                op = SelectorOperator.DoesNotExist;
                (tok, lit) = Consume(values: true);
            }
            if (tok != Token.Identifier) throw new FormatException($"found '{lit}', expected: identifier");
            ValidateKey(lit, "<nil>");
            var (next, _) = Lookahead(values: true);
            if (next is Token.EndOfString or Token.Comma && op != SelectorOperator.DoesNotExist)
                op = SelectorOperator.Exists;
            return (lit, op);
        }

        private SelectorOperator ParseOperator()
        {
            var (tok, lit) = Consume(values: false);
            return tok switch
            {
                Token.In => SelectorOperator.In,
                Token.Equals => SelectorOperator.Equals,
                Token.DoubleEquals => SelectorOperator.DoubleEquals,
                Token.GreaterThan => SelectorOperator.GreaterThan,
                Token.LessThan => SelectorOperator.LessThan,
                Token.NotIn => SelectorOperator.NotIn,
                Token.NotEquals => SelectorOperator.NotEquals,
                _ => throw new FormatException($"found '{lit}', expected: {BinaryOperators}"),
            };
        }

        private HashSet<string> ParseValues()
        {
            var (tok, lit) = Consume(values: true);
            if (tok != Token.OpenPar) throw new FormatException($"found '{lit}' expected: '('");
            (tok, lit) = Lookahead(values: true);
            switch (tok)
            {
                case Token.Identifier or Token.Comma:
                    var set = ParseIdentifiersList();
                    if (Consume(values: true).Tok != Token.ClosedPar)
                        throw new FormatException($"found '{lit}', expected: ')'");
                    return set;
                case Token.ClosedPar:
                    Consume(values: true);
                    return [""];
                default:
                    throw new FormatException($"found '{lit}', expected: ',', ')' or identifier");
            }
        }

        private HashSet<string> ParseIdentifiersList()
        {
            var set = new HashSet<string>(StringComparer.Ordinal);
            while (true)
            {
                var (tok, lit) = Consume(values: true);
                switch (tok)
                {
                    case Token.Identifier:
                        set.Add(lit);
                        var (t2, l2) = Lookahead(values: true);
                        if (t2 == Token.Comma) continue;
                        if (t2 == Token.ClosedPar) return set;
                        throw new FormatException($"found '{l2}', expected: ',' or ')'");
                    case Token.Comma:
                        if (set.Count == 0) set.Add("");
                        var (t3, _) = Lookahead(values: true);
                        if (t3 == Token.ClosedPar)
                        {
                            set.Add("");
                            return set;
                        }
                        if (t3 == Token.Comma)
                        {
                            Consume(values: true);
                            set.Add("");
                        }
                        break;
                    default:
                        throw new FormatException($"found '{lit}', expected: ',', or identifier");
                }
            }
        }

        private HashSet<string> ParseExactValue()
        {
            var (tok, _) = Lookahead(values: true);
            if (tok is Token.EndOfString or Token.Comma) return [""];
            var (t, lit) = Consume(values: true);
            if (t == Token.Identifier) return [lit];
            throw new FormatException($"found '{lit}', expected: identifier");
        }
    }

    private static void ValidateKey(string key, string path)
    {
        var errs = NameRules.IsQualifiedName(key);
        if (errs.Count != 0)
            throw new FormatException($"{path}: Invalid value: {GoFormat.Quote(key)}: {string.Join("; ", errs)}");
    }

    /// <summary>labels.NewRequirement's checks, with its aggregate error text.</summary>
    private static LabelRequirement NewRequirement(string key, SelectorOperator op, IReadOnlyList<string> values)
    {
        var errs = new List<FieldError>();
        var keyErrs = NameRules.IsQualifiedName(key);
        if (keyErrs.Count != 0) errs.Add(FieldError.Invalid(FieldPath.Root("key"), key, string.Join("; ", keyErrs)));
        var valuesPath = FieldPath.Root("values");
        switch (op)
        {
            case SelectorOperator.In or SelectorOperator.NotIn when values.Count == 0:
                errs.Add(FieldError.Invalid(valuesPath, values, "for 'in', 'notin' operators, values set can't be empty"));
                break;
            case SelectorOperator.Equals or SelectorOperator.DoubleEquals or SelectorOperator.NotEquals when values.Count != 1:
                errs.Add(FieldError.Invalid(valuesPath, values, "exact-match compatibility requires one single value"));
                break;
            case SelectorOperator.GreaterThan or SelectorOperator.LessThan:
                if (values.Count != 1)
                    errs.Add(FieldError.Invalid(valuesPath, values, "for 'Gt', 'Lt' operators, exactly one value is required"));
                for (var i = 0; i < values.Count; i++)
                {
                    if (!long.TryParse(values[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
                        errs.Add(FieldError.Invalid(valuesPath.Index(i), values[i], "for 'Gt', 'Lt' operators, the value must be an integer"));
                }
                break;
        }
        for (var i = 0; i < values.Count; i++)
        {
            var valueErrs = NameRules.IsValidLabelValue(values[i]);
            if (valueErrs.Count != 0)
                errs.Add(FieldError.Invalid(valuesPath.Index(i).Key(key), values[i], string.Join("; ", valueErrs)));
        }
        if (errs.Count != 0) throw new FormatException(FieldErrorList.Aggregate(errs));
        return new LabelRequirement(key, op, values);
    }
}
