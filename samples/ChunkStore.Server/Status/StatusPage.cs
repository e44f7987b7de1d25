using System.Globalization;
using System.Net;
using System.Text;

namespace ChunkStore.Server.Status;

/// <summary>
/// Renders a <see cref="StatusReport"/> as one self-contained HTML page (no script; it reloads itself every 15 s).
/// Every figure is an element with an id and its exact value in <c>data-value</c>, so a test (or a scraper) can read
/// the same numbers that <c>/status.json</c> reports.
/// </summary>
internal static class StatusPage
{
    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;

    public static string Render(StatusReport r)
    {
        var html = new StringBuilder(16 * 1024);
        html.Append("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">
            <title>ChunkStore server</title>
            <style>
            body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}
            header{background:#1d2430;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
            header p{margin:4px 0 0;color:#b8c0cc;font-size:13px}
            main{display:grid;grid-template-columns:repeat(auto-fill,minmax(350px,1fr));gap:16px;padding:16px 24px}
            section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:12px 16px}
            section.wide{grid-column:1/-1}h2{font-size:15px;margin:0 0 8px;color:#3b4a5e}
            table{border-collapse:collapse;width:100%;font-size:13px}td,th{padding:3px 4px;text-align:left;vertical-align:top}
            td.v{text-align:right;font-variant-numeric:tabular-nums;font-weight:600;white-space:nowrap}td.v.wrap{white-space:normal;word-break:break-all}th{color:#5b6b80;font-weight:600;border-bottom:1px solid #dde1e6}
            .ok{color:#17803d}.warn{color:#b35c00}.bad{color:#c0262d}.muted{color:#7a8696}
            </style></head><body>
            """);
        html.Append(CultureInfo.InvariantCulture, $"<header><h1>ChunkStore server</h1><p>{E(r.Store.Description)} · {E(r.Store.Backend)} · generated {Time(r.GeneratedAt)}</p></header><main>");

        Section(html, "Store", [
            Row("backend", "store-backend", r.Store.Backend),
            Row("root", "store-root", r.Store.Root, null, "wrap"),
            Row("maximum chunk", "store-max-chunk", Bytes(r.Store.MaxChunkSize), r.Store.MaxChunkSize),
            Row("sync mode", "store-sync", r.Store.SyncMode),
        ]);

        Section(html, "Size", r.Size is { } size
            ? [
                Row("chunks stored", "size-chunks", Count(size.Chunks), size.Chunks),
                Row("bytes stored", "size-bytes", size.Bytes is { } b ? Bytes(b) : "not known (S3: the objects are not listed with sizes)", size.Bytes),
                Row("listed at", "size-at", Time(size.At)),
                Row("listing took", "size-took", Duration(size.Took)),
            ]
            : [Row("chunks stored", "size-chunks", "not listed yet")]);

        var t = r.Traffic;
        Section(html, "Since the server started", [
            Row("new chunks stored", "traffic-new", Count(t.NewChunks), t.NewChunks),
            Row("duplicates (touched)", "traffic-duplicate", Count(t.DuplicateChunks), t.DuplicateChunks),
            Row("new bytes", "traffic-new-bytes", Bytes(t.NewBytes), t.NewBytes),
            Row("chunks read", "traffic-reads", Count(t.Reads), t.Reads),
            Row("bytes read", "traffic-read-bytes", Bytes(t.ReadBytes), t.ReadBytes),
            Row("since", "traffic-since", Time(t.Since)),
        ]);

        var l = r.Leases;
        Section(html, "Write sessions (leases)", [
            Row("open now", "leases-active", Count(l.Active), l.Active),
            Row("oldest start (holds the GC cutoff)", "leases-oldest", l.OldestStart is { } o ? Time(o) : "none"),
            Row("ended by expiry", "leases-expired", Count(l.ExpiredTotal), l.ExpiredTotal, l.ExpiredTotal > 0 ? "warn" : null),
            Row("TTL / maximum lifetime", "leases-ttl", FormattableString.Invariant($"{l.TtlSeconds:0.#} s / {l.MaxLifetimeHours:0.#} h")),
        ]);

        if (r.LastGc is { } gc)
        {
            Section(html, gc.DryRun ? "Last garbage collection (dry run)" : "Last garbage collection", [
                Row("started", "gc-started", Time(gc.StartedAt)),
                Row("status", "gc-status", gc.Completed ? "completed" : "did not complete", null, gc.Completed ? "ok" : "bad"),
                Row(gc.DryRun ? "chunks that would go" : "chunks removed", "gc-removed", Count(gc.ChunksRemoved), gc.ChunksRemoved),
                Row(gc.DryRun ? "bytes that would go" : "bytes removed", "gc-removed-bytes", Bytes(gc.BytesRemoved), gc.BytesRemoved),
                Row("kept: in use", "gc-in-use", Count(gc.ChunksInUse), gc.ChunksInUse),
                Row("kept: inside the grace period", "gc-pending", Count(gc.ChunksPending), gc.ChunksPending),
                Row("referenced", "gc-marked", Count(gc.ChunksMarked), gc.ChunksMarked),
                Row("referenced but missing", "gc-missing", Count(gc.MissingChunks), gc.MissingChunks, gc.MissingChunks > 0 ? "bad" : null),
                Row("could not remove", "gc-remove-failed", Count(gc.RemoveFailed), gc.RemoveFailed, gc.RemoveFailed > 0 ? "warn" : null),
                Row("cutoff", "gc-cutoff", Time(gc.Cutoff)),
                Row("took", "gc-duration", Duration(gc.Duration)),
            ]);
        }
        else
        {
            Section(html, "Last garbage collection", [Row("status", "gc-status", "none yet")]);
        }

        if (r.LastGcFailure is { } gcFailure)
        {
            Section(html, "Last garbage collection failed", [Row(Time(gcFailure.At), "gc-failure", gcFailure.Message, null, "bad wrap")]);
        }

        if (r.LastVerify is { } verify)
        {
            var v = verify.Result;
            Section(html, verify.AllChunks ? "Last verification (every chunk)" : "Last verification (listed chunks)", [
                Row("started", "verify-started", Time(verify.StartedAt)),
                Row("checked", "verify-checked", Count(v.Checked), v.Checked),
                Row("good", "verify-ok", Count(v.Ok), v.Ok, "ok"),
                Row("corrupt (moved aside)", "verify-corrupt", Count(v.Corrupt), v.Corrupt, v.Corrupt > 0 ? "bad" : null),
                Row("missing", "verify-missing", Count(v.Missing), v.Missing, v.Missing > 0 ? "bad" : null),
                Row("errors (nothing renamed)", "verify-errors", Count(v.Errors), v.Errors, v.Errors > 0 ? "warn" : null),
                Row("not regular files (left alone)", "verify-invalid", Count(v.InvalidEntries), v.InvalidEntries, v.InvalidEntries > 0 ? "warn" : null),
                Row("bytes verified", "verify-bytes", Bytes(v.BytesVerified), v.BytesVerified),
                Row("took", "verify-duration", Duration(verify.Duration)),
            ]);
        }
        else
        {
            Section(html, "Last verification", [Row("status", "verify-status", "none since the server started")]);
        }

        if (r.LastVerifyFailure is { } verifyFailure)
        {
            Section(html, "Last verification failed", [Row(Time(verifyFailure.At), "verify-failure", verifyFailure.Message, null, "bad wrap")]);
        }

        html.Append(CultureInfo.InvariantCulture, $"<section class=\"wide\"><h2>Recent warnings and errors (<span id=\"errors-total\" data-value=\"{r.ErrorsLogged}\">{Count(r.ErrorsLogged)}</span> since start)</h2>");
        if (r.RecentErrors.Count == 0)
        {
            html.Append("<p class=\"muted\" id=\"errors-none\">None.</p>");
        }
        else
        {
            html.Append("<table id=\"errors\"><tr><th>time</th><th>level</th><th>event</th><th>source</th><th>message</th></tr>");
            foreach (var e in r.RecentErrors)
            {
                string cls = e.Level >= LogLevel.Error ? "bad" : "warn";
                html.Append(CultureInfo.InvariantCulture, $"<tr><td>{Time(e.At)}</td><td class=\"{cls}\">{e.Level}</td><td>{e.EventId}</td><td>{E(e.Category)}</td><td>{E(e.Message)}</td></tr>");
            }

            html.Append("</table>");
        }

        html.Append("</section></main></body></html>");
        return html.ToString();
    }

    private readonly record struct StatusRow(string Label, string Id, string Text, long? Value, string? Class);

    private static StatusRow Row(string label, string id, string text, long? value = null, string? cls = null) => new(label, id, text, value, cls);

    private static void Section(StringBuilder html, string title, StatusRow[] rows)
    {
        html.Append(CultureInfo.InvariantCulture, $"<section><h2>{E(title)}</h2><table>");
        foreach (var row in rows)
        {
            string value = row.Value is { } v ? FormattableString.Invariant($" data-value=\"{v}\"") : "";
            string cls = row.Class is null ? "v" : "v " + row.Class;
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(row.Label)}</td><td class=\"{cls}\" id=\"{row.Id}\"{value}>{E(row.Text)}</td></tr>");
        }

        html.Append("</table></section>");
    }

    public static string Count(long n) => n.ToString("N0", s_inv);

    public static string Bytes(long n)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = n;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{Count(n)} B" : string.Create(s_inv, $"{value:0.0} {units[unit]} ({Count(n)} B)");
    }

    private static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", s_inv);

    private static string Duration(TimeSpan d) => d.TotalSeconds < 1
        ? string.Create(s_inv, $"{d.TotalMilliseconds:0} ms")
        : string.Create(s_inv, $"{d.TotalSeconds:0.0} s");

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
