using ChunkStore.Backup.Commands;
using Spectre.Console;

namespace ChunkStore.Backup;

/// <summary>The command-line entry: dispatch, help, and the mapping of failures to exit codes.</summary>
internal static class BackupCli
{
    private static readonly (CommandSpec Spec, Func<CliContext, CommandArgs, CancellationToken, Task<int>> Run)[] s_commands =
    [
        (DemoCommand.Spec, DemoCommand.RunAsync),
        (BackupCommand.Spec, BackupCommand.RunAsync),
        (RestoreCommand.Spec, RestoreCommand.RunAsync),
        (VerifyCommand.Spec, VerifyCommand.RunAsync),
        (GcCommand.Spec, GcCommand.RunAsync),
        (StatsCommand.Spec, StatsCommand.RunAsync),
        (SnapshotsCommand.Spec, SnapshotsCommand.RunAsync),
        (ForgetCommand.Spec, ForgetCommand.RunAsync),
    ];

    /// <summary>Runs the program on the process console; Ctrl+C cancels cleanly.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        // Redirected output (CI logs, files): no colours, no live progress bars, a wide fixed width.
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.No,
                ColorSystem = ColorSystemSupport.NoColors,
                Interactive = InteractionSupport.No,
                Out = new AnsiConsoleOutput(Console.Out),
            });
            console.Profile.Width = 120;
        }

        return await RunAsync(args, console, Console.Error, cts.Token).ConfigureAwait(false);
    }

    /// <summary>Runs one command line against the given consoles and returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, IAnsiConsole output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var ctx = new CliContext(output, error) { Verbose = args.Contains("--verbose") };
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help" && args.Length == 1)
        {
            output.Write(new Text(GeneralHelp()));
            return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
        }

        string name = args[0] == "help" ? args[1] : args[0];
        var command = s_commands.FirstOrDefault(c => c.Spec.Name == name);
        if (command.Spec is null)
        {
            error.WriteLine($"error: unknown command '{name}'. Commands: {string.Join(", ", s_commands.Select(c => c.Spec.Name))}. Try 'chunkstore-backup --help'.");
            return ExitCodes.Usage;
        }

        if (args[0] == "help")
        {
            output.Write(new Text(command.Spec.HelpText));
            return ExitCodes.Ok;
        }

        try
        {
            var parsed = CommandArgs.Parse(args[1..], command.Spec);
            if (parsed.Has("--help"))
            {
                output.Write(new Text(command.Spec.HelpText));
                return ExitCodes.Ok;
            }

            CliContext.S3 = CliContext.S3From(parsed);

            return await command.Run(ctx, parsed, cancellationToken).ConfigureAwait(false);
        }
        catch (UsageException ex)
        {
            return Fail(ctx, ExitCodes.Usage, ex.Message + $"\n(see 'chunkstore-backup {name} --help')", ex);
        }
        catch (IntegrityException ex)
        {
            return Fail(ctx, ExitCodes.IntegrityProblem, ex.Message, ex);
        }
        catch (ChunkStoreException ex) when (ex is ChunkCorruptException or ChunkNotFoundException)
        {
            return Fail(ctx, ExitCodes.IntegrityProblem, ex.Message, ex);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            return Fail(ctx, ExitCodes.StoreError, "interrupted; the store is consistent (an unfinished backup wrote no snapshot).", ex);
        }
        catch (Exception ex) when (ex is ChunkStoreException or StoreUnavailableException or IOException or UnauthorizedAccessException)
        {
            return Fail(ctx, ExitCodes.StoreError, ex.Message, ex);
        }
        catch (Exception ex)
        {
            // A bug or an unforeseen condition: still one line and a defined code, details with --verbose.
            return Fail(ctx, ExitCodes.StoreError, $"unexpected {ex.GetType().Name}: {ex.Message}" + (ctx.Verbose ? "" : " (run with --verbose for details)"), ex);
        }
    }

    private static int Fail(CliContext ctx, int code, string message, Exception ex)
    {
        ctx.Error.WriteLine("error: " + message);
        if (ctx.Verbose)
        {
            ctx.Error.WriteLine(ex.ToString());
        }

        return code;
    }

    private static string GeneralHelp()
    {
        var lines = new List<string>
        {
            "chunkstore-backup — a small deduplicating backup tool built on the ChunkStore library.",
            "",
            "Usage: chunkstore-backup <command> [options]",
            "",
            "Commands:",
        };
        lines.AddRange(s_commands.Select(c => $"  {c.Spec.Name,-10} {c.Spec.Summary}"));
        lines.Add("");
        lines.Add("The store is --store <path>, else $CHUNKSTORE_STORE, else ./.chunkstore.");
        lines.Add("Exit codes: 0 ok, 1 verification/integrity problem, 2 usage error, 3 store or I/O error.");
        lines.Add("Run 'chunkstore-backup <command> --help' for a command's options.");
        return string.Join('\n', lines) + "\n";
    }
}
