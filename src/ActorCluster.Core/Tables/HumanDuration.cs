namespace ActorCluster.Core.Tables;

/// <summary>apimachinery's duration.HumanDuration: how kubectl prints AGE.</summary>
public static class HumanDuration
{
    public static string Format(TimeSpan d)
    {
        if (d < TimeSpan.FromSeconds(-1)) return "<invalid>";
        if (d < TimeSpan.Zero) return "0s";
        var seconds = (long)d.TotalSeconds;
        if (seconds < 60 * 2) return $"{seconds}s";
        var minutes = (long)d.TotalMinutes;
        if (minutes < 10)
        {
            var s = seconds % 60;
            return s == 0 ? $"{minutes}m" : $"{minutes}m{s}s";
        }
        if (minutes < 60 * 3) return $"{minutes}m";
        var hours = (long)d.TotalHours;
        if (hours < 8)
        {
            var m = minutes % 60;
            return m == 0 ? $"{hours}h" : $"{hours}h{m}m";
        }
        if (hours < 48) return $"{hours}h";
        if (hours < 24 * 8)
        {
            var h = hours % 24;
            return h == 0 ? $"{hours / 24}d" : $"{hours / 24}d{h}h";
        }
        if (hours < 24 * 365 * 2) return $"{hours / 24}d";
        if (hours < 24 * 365 * 8)
        {
            var dy = hours / 24 % 365;
            return dy == 0 ? $"{hours / 24 / 365}y" : $"{hours / 24 / 365}y{dy}d";
        }
        return $"{hours / 24 / 365}y";
    }

    public static string Age(DateTime? created, DateTime now) =>
        created is null ? "<unknown>" : Format(now - created.Value.ToUniversalTime());
}
