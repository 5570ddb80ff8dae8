namespace ActorCluster.Core.Api;

/// <summary>apimachinery's field.ErrorType: the printed type string and the Status cause reason.</summary>
public enum FieldErrorType
{
    Required,
    NotFound,
    Invalid,
    Duplicate,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
}

/// <summary>One field error, printed exactly as apimachinery's field.Error.</summary>
public sealed record FieldError(FieldErrorType Type, string Field, object? BadValue, string Detail)
{
    public static FieldError Required(FieldPath path, string detail = "") => new(FieldErrorType.Required, path.ToString(), null, detail);

    public static FieldError Invalid(FieldPath path, object? value, string detail) => new(FieldErrorType.Invalid, path.ToString(), value, detail);

    public static FieldError Duplicate(FieldPath path, object? value) => new(FieldErrorType.Duplicate, path.ToString(), value, "");

    public static FieldError NotFound(FieldPath path, object? value) => new(FieldErrorType.NotFound, path.ToString(), value, "");

    public static FieldError Forbidden(FieldPath path, string detail) => new(FieldErrorType.Forbidden, path.ToString(), null, detail);

    public static FieldError Internal(FieldPath path, string detail) => new(FieldErrorType.Internal, path.ToString(), null, detail);

    /// <summary><c>Unsupported value: "x": supported values: "A", "B"</c>; the caller gives the order Kubernetes uses.</summary>
    public static FieldError NotSupported(FieldPath path, string value, IEnumerable<string> supported) =>
        new(FieldErrorType.NotSupported, path.ToString(), value,
            "supported values: " + string.Join(", ", supported.Select(GoFormat.Quote)));

    public string TypeString => Type switch
    {
        FieldErrorType.Required => "Required value",
        FieldErrorType.NotFound => "Not found",
        FieldErrorType.Invalid => "Invalid value",
        FieldErrorType.Duplicate => "Duplicate value",
        FieldErrorType.NotSupported => "Unsupported value",
        FieldErrorType.Forbidden => "Forbidden",
        FieldErrorType.TooLong => "Too long",
        FieldErrorType.TooMany => "Too many",
        FieldErrorType.Internal => "Internal error",
        _ => throw new InvalidOperationException(Type.ToString()),
    };

    /// <summary>The Status cause <c>reason</c> (metav1.CauseType).</summary>
    public string CauseReason => Type switch
    {
        FieldErrorType.Required => "FieldValueRequired",
        FieldErrorType.NotFound => "FieldValueNotFound",
        FieldErrorType.Invalid => "FieldValueInvalid",
        FieldErrorType.Duplicate => "FieldValueDuplicate",
        FieldErrorType.NotSupported => "FieldValueNotSupported",
        FieldErrorType.Forbidden => "FieldValueForbidden",
        FieldErrorType.TooLong => "FieldValueTooLong",
        FieldErrorType.TooMany => "FieldValueTooMany",
        FieldErrorType.Internal => "InternalError",
        _ => throw new InvalidOperationException(Type.ToString()),
    };

    /// <summary>field.Error.ErrorBody(): the message without the field path.</summary>
    public string Body
    {
        get
        {
            var s = Type is FieldErrorType.Required or FieldErrorType.Forbidden or FieldErrorType.TooLong or FieldErrorType.Internal
                ? TypeString
                : TypeString + ": " + GoFormat.Value(BadValue);
            return Detail.Length == 0 ? s : s + ": " + Detail;
        }
    }

    public override string ToString() => Field + ": " + Body;
}

public static class FieldErrorList
{
    /// <summary>utilerrors.NewAggregate(...).Error(): one message as is, several as <c>[a, b]</c> with duplicates dropped.</summary>
    public static string Aggregate(IReadOnlyList<FieldError> errors)
    {
        if (errors.Count == 0) return "";
        if (errors.Count == 1) return errors[0].ToString();
        var seen = new List<string>();
        foreach (var e in errors)
        {
            var msg = e.ToString();
            if (!seen.Contains(msg)) seen.Add(msg);
        }
        return seen.Count == 1 ? seen[0] : "[" + string.Join(", ", seen) + "]";
    }
}
