using System.Globalization;
using k8s.Models;

namespace ActorCluster.Core.Objects;

/// <summary>
/// Reading an IntOrString. The official client keeps only the text, so a number is whatever parses as one
/// (a quoted "8080" therefore counts as the number 8080, where Go would treat it as a port name).
/// </summary>
public static class PortValue
{
    public static bool TryNumber(IntOrString? value, out int number)
    {
        number = 0;
        var text = value?.Value;
        return !string.IsNullOrEmpty(text)
               && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out number);
    }

    public static bool IsEmpty(IntOrString? value) =>
        value is null || string.IsNullOrEmpty(value.Value) || value.Value == "0";
}
