using System.Globalization;
using ActorCluster.Core.Objects;

namespace ActorCluster.Core.Api;

/// <summary>
/// Query parameters read the way kube-apiserver's parameter codec reads them (Go's strconv), so every spelling an
/// official client sends is understood and a malformed one is a 400 in Go's words, never a silent default.
/// </summary>
public static class QueryValues
{
    /// <summary>Go's strconv.ParseBool; absent or empty is false.</summary>
    public static bool Bool(string name, string? value) =>
        value switch
        {
            null or "" => false,
            "1" or "t" or "T" or "TRUE" or "true" or "True" => true,
            "0" or "f" or "F" or "FALSE" or "false" or "False" => false,
            _ => throw new ApiErrorException(ApiError.BadRequest($"invalid value for {name}: strconv.ParseBool: parsing {GoFormat.Quote(value)}: invalid syntax")),
        };

    /// <summary>Go's strconv.ParseInt(value, 10, 64); absent or empty is null.</summary>
    public static long? Int(string name, string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var digits = value.AsSpan(value[0] is '+' or '-' ? 1 : 0);
        if (digits.Length == 0 || digits.ContainsAnyExceptInRange('0', '9'))
            throw new ApiErrorException(ApiError.BadRequest($"invalid value for {name}: strconv.ParseInt: parsing {GoFormat.Quote(value)}: invalid syntax"));
        if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            throw new ApiErrorException(ApiError.BadRequest($"invalid value for {name}: strconv.ParseInt: parsing {GoFormat.Quote(value)}: value out of range"));
        return n;
    }

    /// <summary>dryRun: kube-apiserver accepts only "All" (repeated or not); anything else is refused.</summary>
    public static bool DryRun(IEnumerable<string?> values)
    {
        var all = values.Where(v => !string.IsNullOrEmpty(v)).ToList();
        foreach (var v in all)
        {
            if (v != "All")
                throw new ApiErrorException(ApiError.BadRequest($"Invalid dryRun value: dryRun: Unsupported value: {GoFormat.Quote(v!)}: supported values: \"All\""));
        }
        return all.Count > 0;
    }
}
