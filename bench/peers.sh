#!/usr/bin/env bash
# The sample backup tool (samples/ChunkStore.Backup) side by side with restic and borg on one generated data set
# (issue 15): first backup, unchanged re-backup (files cache on, then forced re-read), a 1 %-modified backup, full
# restore, verify of all data, and prune/GC after forgetting the first snapshot. Every step runs under
# /usr/bin/time -v: wall time, MB/s, peak RSS, CPU and the repository size after it.
#
# Usage: bench/peers.sh [--dir DIR] [--quick] [--tools sample,restic,borg] [--keep]
#   --dir DIR    where the temporary folder (data set, repositories, restores) goes (default: $TMPDIR or /tmp);
#                it needs about 3x the data set free (≈ 7 GiB) and is removed at the end unless --keep
#   --quick      a ≈ 230 MiB data set (2,000 small files, largest file 32 MiB) to try the script out
#   --tools      which tools to run (default all three)
# Writes bench/results/<yyyy-MM-dd-HHmm>-peers[-quick]/report.md and report.json and prints the Markdown report.
# Installs restic and borgbackup (Debian packages) when missing: run as root.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
base="${TMPDIR:-/tmp}"
quick=0
keep=0
tools="sample,restic,borg"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) base="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --keep) keep=1; shift ;;
    --tools) tools="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a tool_list <<<"$tools"
mode="peers"; [[ $quick == 1 ]] && mode="peers-quick"
out="$here/results/$(date +%Y-%m-%d-%H%M)-$mode"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$SECONDS
log() { echo "[peers $(( SECONDS - started ))s] $*" >&2; }

# --- tools -------------------------------------------------------------------------------------------------------
missing=()
command -v restic >/dev/null 2>&1 || missing+=(restic)
command -v borg >/dev/null 2>&1 || missing+=(borgbackup)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]} (Debian packages)"
  if [[ $(id -u) != 0 ]]; then echo "restic/borgbackup/time missing and not root: apt-get install -y ${missing[*]}" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; }
fi
# shellcheck disable=SC1091
source "$root/scripts/ensure-dotnet.sh"
log "building the sample (Release)"
dotnet build "$root/samples/ChunkStore.Backup" -c Release --nologo -v quiet >&2
sample_bin="$root/samples/ChunkStore.Backup/bin/Release/net10.0/chunkstore-backup"

work="$(mktemp -d "$base/chunkstore-peers-XXXXXX")"
cleanup() { if [[ $keep == 0 ]]; then rm -rf "$work"; else echo "kept $work" >&2; fi; }
trap cleanup EXIT
data="$work/data"
rows="$work/rows.tsv"
: >"$rows"
export RESTIC_PASSWORD=peers RESTIC_CACHE_DIR="$work/restic-cache"
export BORG_BASE_DIR="$work/borg-base" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export CHUNKSTORE_STORE="$work/sample-store"
restic_repo="$work/restic-repo"
borg_repo="$work/borg-repo"

# --- the data set ------------------------------------------------------------------------------------------------
# Deterministic: system files are the first regular files of /usr/lib in sorted order (the same on one machine,
# machine-dependent across installs); incompressible files are AES-128-CTR keystreams of fixed keys; small files
# are hex text from a seeded generator. The modification is seeded too.
log "generating the data set in $data"
gen_py="$work/dataset.py"
cat >"$gen_py" <<'PY'
import hashlib, os, random, subprocess, sys
data, quick, action = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
MiB = 1 << 20
def keystream(path, size, key):
    k = hashlib.sha256(key.encode()).hexdigest()
    with open(path, "wb") as f:
        p = subprocess.Popen(["openssl", "enc", "-aes-128-ctr", "-nosalt", "-K", k[:32], "-iv", k[32:64], "-in", "/dev/zero"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        left = size
        while left > 0:
            b = p.stdout.read(min(left, 4 * MiB))
            f.write(b)
            left -= len(b)
        p.kill(); p.wait()
def text(r, n):
    return r.randbytes(n // 2 + 1).hex()[:n].encode()
if action == "generate":
    os.makedirs(data)
    # System files: regular files from /usr/lib, sorted, each at most 64 MiB.
    budget = (48 if quick else 850) * MiB
    done = 0
    for dirpath, dirnames, filenames in os.walk("/usr/lib"):
        dirnames.sort()
        for name in sorted(filenames):
            src = os.path.join(dirpath, name)
            if done >= budget:
                break
            try:
                if os.path.islink(src) or not os.path.isfile(src):
                    continue
                size = os.path.getsize(src)
                if size > 64 * MiB:
                    continue
                dst = os.path.join(data, "sys", os.path.relpath(src, "/usr/lib"))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with open(src, "rb") as s, open(dst, "wb") as d:
                    d.write(s.read())
                done += size
            except OSError:
                continue
        if done >= budget:
            break
    # Incompressible files, 1 KiB to 200 MiB.
    sizes = [(1 << 10, 200), (4 << 10, 200), (16 << 10, 100), (64 << 10, 100), (256 << 10, 50), (MiB, 40), (4 * MiB, 20),
             (16 * MiB, 10), (64 * MiB, 4), (100 * MiB, 1), (200 * MiB, 2)]
    if quick:
        sizes = [(1 << 10, 20), (4 << 10, 20), (64 << 10, 20), (MiB, 10), (4 * MiB, 4), (16 * MiB, 2), (32 * MiB, 2)]
    n = 0
    for size, count in sizes:
        for _ in range(count):
            d = os.path.join(data, "rand", f"{n % 10:02d}")
            os.makedirs(d, exist_ok=True)
            keystream(os.path.join(d, f"r{n:04d}.bin"), size, f"peers-rand-{n}")
            n += 1
    # Small files: 20,000 (quick: 2,000) of 100 B to 16 KiB, in 200 directories.
    r = random.Random(15)
    count = 2000 if quick else 20000
    for i in range(count):
        d = os.path.join(data, "small", f"d{i % 200:03d}")
        os.makedirs(d, exist_ok=True)
        size = int(100 * (160 ** r.random()))
        with open(os.path.join(d, f"f{i:05d}.txt"), "wb") as f:
            f.write(text(r, size))
else:
    # The modification, in place (same paths and inodes, as between two backups of a real tree): 1 % of the files
    # get bytes overwritten in the middle (same size), large files (>= 16 MiB) get 4 KiB inserted in the middle,
    # 1 % of the small files are deleted and as many added, plus one new 24 MiB incompressible file.
    r = random.Random(16)
    files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(data) for f in fs)
    large = [f for f in files if os.path.getsize(f) >= 16 * MiB]
    changed = 0
    for f in r.sample(files, max(1, len(files) // 100)):
        if f in large:
            continue
        size = os.path.getsize(f)
        if size == 0:
            continue
        with open(f, "r+b") as h:
            h.seek(size // 2)
            h.write(r.randbytes(min(64, size - size // 2)))
        changed += 1
    for f in large:
        size = os.path.getsize(f)
        with open(f, "r+b") as h:
            h.seek(size // 2)
            rest = h.read()
            h.seek(size // 2)
            h.write(r.randbytes(4096))
            h.write(rest)
    small = [f for f in files if "/small/" in f]
    deleted = r.sample(small, max(1, len(small) // 100))
    for f in deleted:
        os.remove(f)
    for i in range(len(deleted)):
        d = os.path.join(data, "small", f"d{i % 200:03d}")
        with open(os.path.join(d, f"new{i:05d}.txt"), "wb") as h:
            h.write(text(r, int(100 * (160 ** r.random()))))
    keystream(os.path.join(data, "rand", "added.bin"), 24 * MiB, "peers-added")
    print(f"{changed} files changed in place, {len(large)} large files with 4 KiB inserted, "
          f"{len(deleted)} small files deleted and {len(deleted)} added, 1 file of 24 MiB added")
PY
python3 "$gen_py" "$data" "$quick" generate
data_files=$(find "$data" -type f | wc -l)
data_bytes=$(du -sb "$data" | cut -f1)
data_desc="$data_files files, $(( data_bytes / 1048576 )) MiB: system files from /usr/lib, incompressible files of 1 KiB to $([[ $quick == 1 ]] && echo 32 || echo 200) MiB, $([[ $quick == 1 ]] && echo 2,000 || echo 20,000) small text files"
log "data set: $data_desc"
sync

# --- running and measuring ---------------------------------------------------------------------------------------
size_of() { du -sb "$1" 2>/dev/null | cut -f1 || echo 0; }
repo_of() { case "$1" in sample) echo "$CHUNKSTORE_STORE" ;; restic) echo "$restic_repo" ;; borg) echo "$borg_repo" ;; esac; }

# measure TOOL PHASE BYTES_FOR_MBPS(data|repo|N) COMMAND...: runs under /usr/bin/time -v, appends a row.
measure() {
  local tool="$1" phase="$2" basis="$3"; shift 3
  local tlog="$work/time-$tool-$phase.txt" olog="$work/out-$tool-$phase.txt" rc=0
  log "$tool: $phase"
  /usr/bin/time -v -o "$tlog" "$@" >"$olog" 2>&1 || rc=$?
  local wall rss cpu repo bytes
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$tlog")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tlog")
  cpu=$(awk -F': ' '/Percent of CPU/ { sub("%", "", $2); print $2 }' "$tlog")
  repo=$(size_of "$(repo_of "$tool")")
  case "$basis" in data) bytes=$(size_of "$data") ;; repo) bytes=$repo ;; *) bytes=$basis ;; esac
  if [[ $rc != 0 ]]; then log "$tool $phase exited $rc; last lines:"; tail -n 5 "$olog" >&2; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$phase" "$wall" "$bytes" "$rss" "$cpu" "$repo" "$rc" >>"$rows"
}

has() { [[ ",$tools," == *",$1,"* ]]; }
backup() {
  local tool="$1" phase="$2" name="$3"
  case "$tool" in
    sample)
      local force=(); [[ $phase == forced ]] && force=(--force-read)
      measure sample "$phase" data "$sample_bin" backup "$data" "${force[@]}" ;;
    restic)
      local force=(); [[ $phase == forced ]] && force=(--force)
      measure restic "$phase" data restic -r "$restic_repo" --compression off backup --host peers "${force[@]}" "$data" ;;
    borg)
      local cache=(); [[ $phase == forced ]] && cache=(--files-cache=disabled)
      measure borg "$phase" data borg create --compression none "${cache[@]}" "$borg_repo::$name" "$data" ;;
  esac
}

has restic && restic -r "$restic_repo" init --repository-version 2 >/dev/null
has borg && borg init -e none "$borg_repo" >/dev/null 2>&1
for phase in first unchanged forced; do
  for t in "${tool_list[@]}"; do backup "$t" "$phase" "$phase"; done
done
log "modifying the data set"
modification="$(python3 "$gen_py" "$data" "$quick" modify)"
log "modified: $modification"
sync
for t in "${tool_list[@]}"; do backup "$t" modified modified; done

restore_ok=()
for t in "${tool_list[@]}"; do
  target="$work/restore-$t"
  mkdir -p "$target"
  case "$t" in
    sample) measure sample restore data "$sample_bin" restore latest "$target"; restored="$target" ;;
    restic) measure restic restore data restic -r "$restic_repo" restore latest --target "$target"; restored="$target$data" ;;
    borg) measure borg restore data bash -c 'cd "$1" && borg extract "$2"' _ "$target" "$borg_repo::modified"; restored="$target$data" ;;
  esac
  # Untimed: the restore must equal the data set.
  if diff -rq "$data" "$restored" >"$work/diff-$t.txt" 2>&1; then restore_ok+=("$t=yes"); else restore_ok+=("$t=NO"); log "$t restore differs: $(head -n 3 "$work/diff-$t.txt")"; fi
  rm -rf "$target"
done

for t in "${tool_list[@]}"; do
  case "$t" in
    sample) measure sample verify repo "$sample_bin" verify ;;
    restic) measure restic verify repo restic -r "$restic_repo" check --read-data ;;
    borg) measure borg verify repo borg check --verify-data "$borg_repo" ;;
  esac
done

for t in "${tool_list[@]}"; do
  case "$t" in
    sample)
      first_id="$(ls "$CHUNKSTORE_STORE/snapshots" | sort | head -n 1)"
      measure sample prune repo bash -c '"$1" forget "$2" && "$1" gc' _ "$sample_bin" "${first_id%.snapshot}" ;;
    restic)
      first_id="$(restic -r "$restic_repo" snapshots --json | python3 -c 'import json, sys; print(sorted(json.load(sys.stdin), key=lambda s: s["time"])[0]["id"])')"
      measure restic prune repo restic -r "$restic_repo" forget --prune "$first_id" ;;
    borg) measure borg prune repo bash -c 'borg delete "$1::first" && borg compact "$1"' _ "$borg_repo" ;;
  esac
done

load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
log "writing the report to ${out#"$root/"}"
mkdir -p "$out"
cpu="$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)$(grep -qw sha_ni /proc/cpuinfo && echo ' (SHA-NI)')"
fs="$(findmnt -n -o FSTYPE,OPTIONS --target "$work" | head -n 1)"
export PEERS_DATE="$(date '+%Y-%m-%d %H:%M %z')" PEERS_COMMIT="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
export PEERS_CPU="$cpu" PEERS_CORES="$(nproc)" PEERS_RAM="$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
export PEERS_KERNEL="$(uname -r)" PEERS_FS="$fs" PEERS_DOTNET="$(dotnet --version)"
export PEERS_RESTIC="$(restic version 2>/dev/null | cut -d' ' -f2 || true)" PEERS_BORG="$(borg --version 2>/dev/null | cut -d' ' -f2 || true)"
export PEERS_LOAD_START="$load_start" PEERS_LOAD_END="$load_end" PEERS_DATA="$data_desc" PEERS_DATA_BYTES="$data_bytes"
export PEERS_MODIFICATION="$modification" PEERS_RESTORE="${restore_ok[*]-}" PEERS_DURATION="$(( SECONDS - started ))"
python3 - "$rows" "$out" <<'PY'
import json, os, sys
rows_path, out = sys.argv[1], sys.argv[2]
e = os.environ
meta = {
    "date": e["PEERS_DATE"], "commit": e["PEERS_COMMIT"], "cpu": e["PEERS_CPU"], "cores": int(e["PEERS_CORES"]),
    "ram": e["PEERS_RAM"], "kernel": e["PEERS_KERNEL"], "filesystem": e["PEERS_FS"], "dotnet": e["PEERS_DOTNET"],
    "restic": e["PEERS_RESTIC"], "borg": e["PEERS_BORG"], "load_start": e["PEERS_LOAD_START"], "load_end": e["PEERS_LOAD_END"],
    "data_set": e["PEERS_DATA"], "data_bytes_before": int(e["PEERS_DATA_BYTES"]), "modification": e["PEERS_MODIFICATION"],
    "restore_matches": e["PEERS_RESTORE"], "duration_s": int(e["PEERS_DURATION"]),
}
rows = []
for line in open(rows_path):
    tool, phase, wall, nbytes, rss, cpu, repo, rc = line.rstrip("\n").split("\t")
    wall = float(wall)
    rows.append({"tool": tool, "phase": phase, "wall_s": wall, "bytes": int(nbytes),
                 "mb_per_s": round(int(nbytes) / 1e6 / wall, 1) if wall > 0 else None,
                 "peak_rss_mib": round(int(rss) / 1024, 1), "cpu_percent": int(cpu) if cpu.isdigit() else None,
                 "repo_mib": round(int(repo) / 1048576, 1), "exit_code": int(rc)})
json.dump({"machine": meta, "rows": rows}, open(f"{out}/report.json", "w"), indent=2)
phases = ["first", "unchanged", "forced", "modified", "restore", "verify", "prune"]
what = {"first": "first backup", "unchanged": "unchanged re-backup, files cache", "forced": "unchanged re-backup, forced re-read",
        "modified": "1 %-modified backup", "restore": "full restore (latest)", "verify": "verify all data", "prune": "forget first + prune/GC"}
md = [f"# Peers: the sample backup tool, restic and borg ({meta['date']})", "",
      "Produced by `bench/peers.sh`. All figures are one run each, page cache warm (the data set was just written).", "",
      "## Machine", "",
      "| | |", "|---|---|"]
for k, label in [("cpu", "CPU"), ("cores", "Cores"), ("ram", "RAM"), ("kernel", "Kernel"), ("filesystem", "Filesystem of the work directory"),
                 ("dotnet", ".NET SDK"), ("restic", "restic"), ("borg", "borg"), ("commit", "Commit"),
                 ("load_start", "Load average at the start (1 / 5 / 15 min)"), ("load_end", "Load average at the end"),
                 ("duration_s", "Script duration (s)")]:
    md.append(f"| {label} | {meta[k]} |")
md += ["", "## Data set", "", f"- {meta['data_set']}", f"- modification: {meta['modification']}",
       f"- restore equal to the data set (`diff -r`, untimed): {meta['restore_matches']}", "",
       "Settings: the sample with its defaults (`--sync batch`: one `syncfs` at the end of a backup); restic "
       "`--compression off`, repository v2 (restic always encrypts); borg `-e none`, `--compression none`. "
       "Forced re-read: sample `--force-read`, restic `--force`, borg `--files-cache=disabled`. "
       "Verify: sample `verify`, restic `check --read-data`, borg `check --verify-data`. Prune: sample `forget` + `gc`, "
       "restic `forget --prune`, borg `delete` + `compact`. MB/s is the data set size over wall time for backups and the "
       "restore, and the repository size for verify and prune. Repository = the store / repository directory after the "
       "step (`du -sb`; restic's and borg's caches live outside it, the sample's files cache inside).", "",
       "## Results", "",
       "| step | tool | wall s | MB/s | peak RSS MiB | CPU % | repository MiB | exit |", "|---|---|---:|---:|---:|---:|---:|---:|"]
for p in phases:
    for r in [r for r in rows if r["phase"] == p]:
        md.append(f"| {what[p]} | {r['tool']} | {r['wall_s']:.2f} | {r['mb_per_s']} | {r['peak_rss_mib']} | {r['cpu_percent']} | {r['repo_mib']} | {r['exit_code']} |")
md += ["", "## The sample against the faster peer (throughput ratio, > 1 = the sample is faster)", "",
       "| step | sample s | faster peer | peer s | ratio |", "|---|---:|---|---:|---:|"]
for p in phases:
    s = next((r for r in rows if r["phase"] == p and r["tool"] == "sample"), None)
    peers = [r for r in rows if r["phase"] == p and r["tool"] != "sample"]
    if s and peers:
        best = min(peers, key=lambda r: r["wall_s"])
        md.append(f"| {what[p]} | {s['wall_s']:.2f} | {best['tool']} | {best['wall_s']:.2f} | {best['wall_s'] / s['wall_s']:.2f} |")
open(f"{out}/report.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
echo "report: ${out#"$root/"}" >&2
