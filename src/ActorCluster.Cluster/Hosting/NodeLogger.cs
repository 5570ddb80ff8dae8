using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using Akka.Hosting.Logging;
using Microsoft.Extensions.Logging;
using MelLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// Akka's log into the host's <see cref="ILoggerFactory"/>, one category per logging class (<c>Akka.Cluster.Cluster</c>,
/// <c>ActorCluster.Cluster.Node.NodeAgent</c>), so a node's log reads as one and filters by namespace. Akka.Hosting's
/// own logger puts every line under one category with Akka's whole prefix (level, time, thread) repeated inside.
/// </summary>
public sealed class NodeLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private readonly ILoggerFactory _factory;
    private readonly Dictionary<Type, ILogger> _loggers = [];
    private readonly Dictionary<string, ILogger> _bySource = [];

    public NodeLogger()
    {
        _factory = Context.System.Settings.Setup.Get<LoggerFactorySetup>().Value?.LoggerFactory
                   ?? throw new InvalidOperationException("NodeLogger needs the host's ILoggerFactory (Akka.Hosting adds it)");
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(Log);
    }

    private void Log(LogEvent e)
    {
        var type = e.LogClass ?? typeof(ActorSystem);
        if (!_loggers.TryGetValue(type, out var logger)) _loggers[type] = logger = _factory.CreateLogger(type.FullName ?? type.Name);
        // Akka's own extensions log with a string source ("Cluster (akka://...)", "remoting (akka://...)") and a
        // placeholder class: those lines go under Akka.<source>, e.g. Akka.Cluster.
        if (type == typeof(DummyClassForStringSources))
        {
            var name = "Akka." + new string(e.LogSource.TakeWhile(char.IsLetterOrDigit).ToArray());
            if (!_bySource.TryGetValue(name, out logger)) _bySource[name] = logger = _factory.CreateLogger(name);
        }
        var level = e.LogLevel() switch
        {
            Akka.Event.LogLevel.DebugLevel => MelLogLevel.Debug,
            Akka.Event.LogLevel.InfoLevel => MelLogLevel.Information,
            Akka.Event.LogLevel.WarningLevel => MelLogLevel.Warning,
            _ => MelLogLevel.Error,
        };
        if (!logger.IsEnabled(level)) return;
        logger.Log(level, default, (Source: e.LogSource, Message: e.Message), e.Cause, static (s, _) => $"[{s.Source}] {s.Message}");
    }
}
