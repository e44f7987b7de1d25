#!/usr/bin/env bash
# s3-local.sh - a throw-away, single-node Ceph RADOS Gateway (a real S3 server) on 127.0.0.1,
# installed from Debian packages, for ChunkStore's tests and CI.
#
# Usage:
#   scripts/s3-local.sh install
#   scripts/s3-local.sh start [--store memstore|bluestore] [--dir DIR]
#   scripts/s3-local.sh stop        [--dir DIR]
#   scripts/s3-local.sh restart-rgw [--dir DIR]
#   scripts/s3-local.sh status      [--dir DIR]
#   scripts/s3-local.sh env         [--dir DIR]
#
# Environment:
#   CHUNKSTORE_S3_DIR       state directory (default ${TMPDIR:-/tmp}/chunkstore-rgw); holds
#                           EVERYTHING: config, data, keyring, pid files, logs, admin sockets
#   CHUNKSTORE_S3_PORT      S3 (HTTP) port (default 7480)
#   CHUNKSTORE_S3_MON_PORT  monitor port (default 6789)
#   CHUNKSTORE_S3_STORE     memstore (default; RAM, fastest, lost when the OSD stops) or
#                           bluestore (sparse file on disk; survives kill -9; for restart tests)
#
# `start` wipes any earlier cluster in the state dir, bootstraps a new one (1 mon, 1 OSD, no mgr,
# auth none), creates a fixed S3 test user, writes <dir>/s3.env (export lines) and prints its path as
# the last line of stdout. Progress messages go to stderr. Runs as root on Debian 12.
#
# Background and measured facts: shared/reference/s3-local-ceph.md.

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"
SCRIPT_PATH="$SCRIPT_DIR/$(basename "$0")"

# Fixed test credentials: the cluster is throw-away and bound to 127.0.0.1 only.
S3_UID="chunkstore-test"
S3_ACCESS_KEY="chunkstore-test"
S3_SECRET_KEY="chunkstore-test-secret-0123456789abcdefg"   # 40 characters
S3_REGION="us-east-1"

STATE_DIR="${CHUNKSTORE_S3_DIR:-${TMPDIR:-/tmp}/chunkstore-rgw}"
PORT="${CHUNKSTORE_S3_PORT:-7480}"
MON_PORT="${CHUNKSTORE_S3_MON_PORT:-6789}"
STORE="${CHUNKSTORE_S3_STORE:-memstore}"

# Wait limits in seconds. Normal values: mon ~1 s, OSD ~1-4 s, radosgw ~1-3 s.
MON_TIMEOUT=30
OSD_TIMEOUT=45
RGW_TIMEOUT=45
STOP_TIMEOUT=10
BOOTSTRAPPING=0   # 1 while `start` runs: failures then also show the tail of bootstrap.log

PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)
BINARIES=(ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool)

# Daemon names, in stop order (radosgw first, the monitor last).
DAEMONS=(client.rgw.a osd.0 mon.a)

log() { printf '[s3-local] %s\n' "$*" >&2; }
die() { printf '[s3-local] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^# Background/p' "$SCRIPT_PATH" | sed -e 's/^# \{0,1\}//' -e '/^Background/d' >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------
# Paths inside the state directory (set after argument parsing, since --dir may change it).
set_paths() {
    # Ceph wants absolute paths in its config.
    case "$STATE_DIR" in /*) ;; *) STATE_DIR="$(pwd)/$STATE_DIR" ;; esac
    STATE_DIR="${STATE_DIR%/}"
    CONF="$STATE_DIR/ceph.conf"
    RUN_DIR="$STATE_DIR/run"
    LOG_DIR="$STATE_DIR/log"
    VARS_FILE="$STATE_DIR/cluster.vars"
    ENV_FILE="$STATE_DIR/s3.env"
    MARKER="$STATE_DIR/.chunkstore-s3-local"
    BOOT_LOG="$LOG_DIR/bootstrap.log"
    export CEPH_CONF="$CONF"   # every ceph CLI call below uses this cluster, never /etc/ceph
}

pid_file() { echo "$RUN_DIR/$1.pid"; }
daemon_log() { echo "$LOG_DIR/$1.log"; }

# Settings of the running cluster (port, store) are saved at start, so that restart-rgw and
# status work even if the caller's environment differs.
load_vars() {
    if [[ -f "$VARS_FILE" ]]; then
        # shellcheck source=/dev/null
        source "$VARS_FILE"
    fi
}

# ---------------------------------------------------------------------------------------------
# Processes

# Prints the pid from a daemon's pid file if that process is alive and is ours.
# A zombie (state Z) counts as gone: on these machines orphaned daemons are not always reaped.
live_pid() {
    local pf pid state
    pf="$(pid_file "$1")"
    [[ -s "$pf" ]] || return 1
    pid="$(tr -dc '0-9' <"$pf")"
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    # Field 3 of /proc/PID/stat is the state; the command name (field 2) may contain spaces.
    state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    # Guard against pid reuse: every daemon is started with "-c <our ceph.conf>".
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONF" || return 1
    echo "$pid"
}

# stop_daemon NAME SIGNAL: SIGTERM waits up to STOP_TIMEOUT s and then falls back to SIGKILL.
stop_daemon() {
    local name="$1" sig="$2" pid i
    pid="$(live_pid "$name")" || { rm -f "$(pid_file "$name")"; return 0; }
    log "stopping $name (pid $pid, SIG$sig)"
    kill -s "$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        live_pid "$name" >/dev/null || break
        sleep 0.1
    done
    if live_pid "$name" >/dev/null; then
        log "$name did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -s KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            live_pid "$name" >/dev/null || break
            sleep 0.1
        done
        live_pid "$name" >/dev/null && die "could not kill $name (pid $pid)"
    fi
    rm -f "$(pid_file "$name")"
}

stop_all() {
    local d
    [[ -d "$RUN_DIR" ]] || return 0
    for d in "${DAEMONS[@]}"; do stop_daemon "$d" TERM; done
}

# Starts a ceph daemon. It forks into the background itself and writes its pid file; its own
# stdout/stderr go to a file so that a caller reading our output through a pipe is not kept
# waiting by a daemon holding the pipe open.
run_daemon() {
    local name="$1"; shift
    log "starting $name"
    if ! "$@" -c "$CONF" </dev/null >>"$LOG_DIR/$name.stdout" 2>&1; then
        fail_with_log "$name failed to start" "$name"
    fi
}

# fail_with_log MESSAGE DAEMON: prints the tail of the daemon's logs, then exits non-zero.
fail_with_log() {
    local msg="$1" name="$2" f
    local files=("$(daemon_log "$name")" "$LOG_DIR/$name.stdout")
    [[ "$BOOTSTRAPPING" == 1 ]] && files+=("$BOOT_LOG")
    for f in "${files[@]}"; do
        if [[ -s "$f" ]]; then
            printf '\n--- last lines of %s ---\n' "$f" >&2
            tail -n 25 "$f" >&2
        fi
    done
    die "$msg"
}

# ---------------------------------------------------------------------------------------------
# Port probes (bash /dev/tcp, so curl is not needed)

port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True when the S3 port answers an HTTP request (any status line; anonymous GET / lists buckets).
http_answers() {
    local line
    # shellcheck disable=SC2016  # $1 and $line belong to the inner bash
    line="$(timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        IFS= read -r -t 4 line <&3 && printf "%s" "$line"' _ "$1" 2>/dev/null)" || return 1
    [[ "$line" == HTTP/* ]]
}

# True while any radosgw process of this cluster runs (found by its command line, not its pid file).
rgw_process_alive() {
    local f
    for f in /proc/[0-9]*/cmdline; do
        tr '\0' ' ' <"$f" 2>/dev/null | grep -qF -- "-n client.rgw.a -c $CONF" && return 0
    done
    return 1
}

wait_http() {
    local deadline=$((SECONDS + RGW_TIMEOUT))
    until http_answers "$PORT"; do
        # radosgw daemonizes: the process that was started exits after forking, and the pid file may name it for a
        # moment (seen on a loaded machine: "exited" while the forked daemon came up). Only when no radosgw process
        # of this cluster is left has it exited.
        if ! live_pid client.rgw.a >/dev/null && ! rgw_process_alive; then
            fail_with_log "radosgw exited before the S3 port $PORT answered" client.rgw.a
        fi
        ((SECONDS < deadline)) || fail_with_log "S3 port $PORT did not answer HTTP within ${RGW_TIMEOUT}s" client.rgw.a
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------------------------
# install

binaries_present() {
    local b
    for b in "${BINARIES[@]}"; do command -v "$b" >/dev/null 2>&1 || return 1; done
}

cmd_install() {
    [[ $EUID -eq 0 ]] || die "install needs root (apt-get)"
    if binaries_present; then
        log "ceph packages already installed ($(ceph --version 2>/dev/null | cut -d' ' -f1-3))"
        return 0
    fi
    local apt_opts=(-y --no-install-recommends -o DPkg::Lock::Timeout=600)
    # Only refresh the package lists when they do not know radosgw (e.g. a fresh machine).
    if ! apt-cache policy radosgw 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        log "apt-get update (package lists do not know radosgw yet)"
        apt-get -o DPkg::Lock::Timeout=600 update >&2
    fi
    log "apt-get install ${PACKAGES[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${PACKAGES[@]}" >&2; then
        # Stale lists (404 on a superseded .deb): refresh once and retry.
        log "install failed; refreshing package lists and retrying once"
        apt-get -o DPkg::Lock::Timeout=600 update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${PACKAGES[@]}" >&2
    fi
    binaries_present || die "ceph binaries still missing after apt-get install"
    log "installed $(ceph --version | cut -d' ' -f1-3)"
}

# ---------------------------------------------------------------------------------------------
# start

write_conf() {
    local fsid="$1"
    # Values with $name / $id / $cluster are expanded by Ceph per daemon, hence the \$ escapes.
    cat >"$CONF" <<EOF
# Generated by scripts/s3-local.sh - throw-away single-node cluster, everything under this dir.
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$MON_PORT
mon initial members = a
# Loopback only; msgr v1 only, so the single "mon host" address above is all there is.
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.1/32
ms bind ipv6 = false
ms bind msgr2 = false

# Test cluster on 127.0.0.1: no cephx (no keys to distribute; the S3 user still signs requests).
auth cluster required = none
auth service required = none
auth client required = none

# Every file a daemon or CLI writes stays in the state dir (nothing in /var/lib, /var/log, /run).
run dir = $RUN_DIR
pid file = $RUN_DIR/\$name.pid
log file = $LOG_DIR/\$name.log
mon cluster log file = $LOG_DIR/cluster.log
crash dir = $STATE_DIR/crash
keyring = $STATE_DIR/keyring
log to syslog = false
log to journald = false
err to syslog = false
err to journald = false
mon cluster log to syslog = false
mon cluster log to journald = false

# One OSD: one replica per object, small fixed placement-group counts, no autoscaler (it lives
# in the mgr, which we do not run), and CRUSH may place all replicas on one OSD.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# radosgw creates ~7 pools of 8 PGs at first start; stay well clear of the per-OSD PG limit.
mon max pg per osd = 1000

# Do not refuse to start when the CI disk is nearly full (defaults: warn 30 %, crit 5 %).
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = $STATE_DIR/mon/ceph-\$id
# radosgw creates its pools one by one at first start; with the default paxos timings each pool
# costs ~1-2 s (about 12 s in all), with these about 1.7 s in all.
paxos propose interval = 0.05
paxos min wait = 0.01
# No mgr runs; do not nag about it, nor about the insecure global_id reclaim (auth is off).
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false

[osd]
osd data = $STATE_DIR/osd/ceph-\$id
osd objectstore = $STORE
# Without these two the OSD sometimes dies at start with 'wrong fsid': it would try to update
# its own CRUSH location / object classes; the script adds the CRUSH entry itself instead.
osd crush update on start = false
osd class update on start = false
# memstore: all data in RAM, capped here (~2 GiB is plenty for tests).
memstore device bytes = 2147483648
# bluestore: a sparse 20 GiB block file in the OSD dir (uses only what is written).
bluestore block create = true
bluestore block size = 21474836480
# Skip the post-mkfs consistency check of the fresh, empty store (saves start-up time).
bluestore fsck on mkfs = false
# Keep memory small (2-core / CI machine): small caches, few op threads.
osd memory target = 939524096
bluestore cache size = 134217728
osd op num shards = 2
osd op num threads per shard = 2

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $STATE_DIR/rgw/ceph-a
# radosgw counts as a client, whose default admin socket name includes its pid; use a fixed one.
admin socket = $RUN_DIR/ceph-\$name.asok
# Path-style addressing (http://127.0.0.1:PORT/bucket/key) is what the tests use.
rgw dns name = 127.0.0.1
# Fewer worker threads than the default 512: plenty for tests, much less memory.
rgw thread pool size = 64
EOF
}

# Refuses to wipe a directory that this script did not create (protects against a mistyped
# CHUNKSTORE_S3_DIR).
wipe_state_dir() {
    if [[ -d "$STATE_DIR" ]]; then
        if [[ -e "$MARKER" ]]; then
            stop_all
            log "removing previous cluster in $STATE_DIR"
            rm -rf "$STATE_DIR"
        elif [[ -n "$(ls -A "$STATE_DIR" 2>/dev/null)" ]]; then
            die "$STATE_DIR exists, is not empty and was not created by this script; refusing to wipe it"
        fi
    fi
    mkdir -p "$STATE_DIR"
    touch "$MARKER"
    mkdir -p "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/crash" "$STATE_DIR/mon/ceph-a" \
        "$STATE_DIR/osd/ceph-0" "$STATE_DIR/rgw/ceph-a"
}

# quiet CMD...: runs a setup command with its output in bootstrap.log.
quiet() {
    printf '\n$ %s\n' "$*" >>"$BOOT_LOG"
    "$@" >>"$BOOT_LOG" 2>&1
}

# ceph CLI with a bounded connect time (the default is to wait forever for a monitor).
ceph_cli() { timeout 20 ceph -c "$CONF" --connect-timeout 10 "$@"; }

cmd_start() {
    local t0=$SECONDS fsid osd_uuid osd_id deadline
    BOOTSTRAPPING=1

    case "$STORE" in memstore | bluestore) ;; *) die "unknown store '$STORE' (memstore|bluestore)" ;; esac
    [[ "$PORT" =~ ^[0-9]+$ && "$MON_PORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
    binaries_present || cmd_install

    wipe_state_dir

    # Our own daemons are stopped now; anything still listening belongs to someone else.
    port_open "$PORT" && die "port $PORT (S3) is already in use by another process; set CHUNKSTORE_S3_PORT"
    port_open "$MON_PORT" && die "port $MON_PORT (monitor) is already in use; set CHUNKSTORE_S3_MON_PORT"

    fsid="$(cat /proc/sys/kernel/random/uuid)"
    osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
    write_conf "$fsid"
    cat >"$VARS_FILE" <<EOF
PORT=$PORT
MON_PORT=$MON_PORT
STORE=$STORE
EOF
    log "bootstrapping $STORE cluster in $STATE_DIR (S3 port $PORT, mon port $MON_PORT)"

    # --- monitor ---
    quiet monmaptool --create --fsid "$fsid" --add a "v1:127.0.0.1:$MON_PORT" "$STATE_DIR/monmap" ||
        fail_with_log "monmaptool failed" mon.a
    # With auth none the key is never checked, but mkfs still wants a mon. keyring.
    quiet ceph-authtool --create-keyring "$STATE_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' ||
        fail_with_log "ceph-authtool failed" mon.a
    quiet ceph-mon -c "$CONF" --mkfs -i a --monmap "$STATE_DIR/monmap" --keyring "$STATE_DIR/keyring" ||
        fail_with_log "ceph-mon --mkfs failed" mon.a
    run_daemon mon.a ceph-mon -i a
    deadline=$((SECONDS + MON_TIMEOUT))
    until quiet ceph_cli -s; do
        live_pid mon.a >/dev/null || fail_with_log "ceph-mon exited during start-up" mon.a
        ((SECONDS < deadline)) || fail_with_log "monitor did not answer within ${MON_TIMEOUT}s" mon.a
        sleep 0.2
    done

    # --- OSD ---
    # Right after the first 'ceph -s' answers, the monitor can still refuse commands for a moment ("EPERM: problem
    # getting command descriptions from mon", seen once here): retry. 'osd new' with the same uuid is idempotent.
    local attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        if osd_id="$(ceph_cli osd new "$osd_uuid" 2>>"$BOOT_LOG")"; then break; fi
        ((attempt < 10)) || fail_with_log "'ceph osd new' failed" mon.a
        sleep 0.5
    done
    [[ "$osd_id" == 0 ]] || fail_with_log "expected OSD id 0, got '$osd_id'" mon.a
    quiet timeout 120 ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" ||
        fail_with_log "ceph-osd --mkfs failed" osd.0
    # 'osd crush update on start' is off, so put the OSD into the CRUSH map here.
    quiet ceph_cli osd crush add osd.0 1.0 root=default host=localhost ||
        fail_with_log "'ceph osd crush add' failed" mon.a
    run_daemon osd.0 ceph-osd -i 0
    deadline=$((SECONDS + OSD_TIMEOUT))
    until ceph_cli osd dump 2>>"$BOOT_LOG" | grep -q '^osd\.0 up'; do
        live_pid osd.0 >/dev/null || fail_with_log "ceph-osd exited during start-up" osd.0
        ((SECONDS < deadline)) || fail_with_log "osd.0 was not up within ${OSD_TIMEOUT}s" osd.0
        sleep 0.2
    done

    # --- radosgw ---
    run_daemon client.rgw.a radosgw -n client.rgw.a
    wait_http

    quiet timeout 60 radosgw-admin -c "$CONF" user create --uid="$S3_UID" --display-name="$S3_UID" \
        --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" ||
        fail_with_log "radosgw-admin user create failed" client.rgw.a

    write_env_file
    log "S3 endpoint http://127.0.0.1:$PORT ready ($STORE) after $((SECONDS - t0)) s"
    echo "$ENV_FILE"
}

# Single-quoted values: `source`-able by a shell and trivial to parse for a test harness.
squote() { local q="'\\''"; printf "'%s'" "${1//\'/$q}"; }

write_env_file() {
    local restart self
    self="$(squote "$ENV_FILE")"
    restart="$(printf '%q ' "$SCRIPT_PATH" restart-rgw --dir "$STATE_DIR")"
    restart="${restart% }"
    {
        echo "# Written by scripts/s3-local.sh start; source it: . $self"
        echo "export CHUNKSTORE_S3_ENDPOINT=$(squote "http://127.0.0.1:$PORT")"
        echo "export CHUNKSTORE_S3_ACCESS_KEY=$(squote "$S3_ACCESS_KEY")"
        echo "export CHUNKSTORE_S3_SECRET_KEY=$(squote "$S3_SECRET_KEY")"
        echo "export CHUNKSTORE_S3_REGION=$(squote "$S3_REGION")"
        echo "export CHUNKSTORE_S3_STORE=$(squote "$STORE")"
        echo "export CHUNKSTORE_S3_DIR=$(squote "$STATE_DIR")"
        echo "export CHUNKSTORE_S3_RGW_PIDFILE=$(squote "$(pid_file client.rgw.a)")"
        echo "export CHUNKSTORE_S3_RGW_RESTART=$(squote "$restart")"
    } >"$ENV_FILE"
}

# ---------------------------------------------------------------------------------------------
# other subcommands

require_cluster() {
    [[ -f "$CONF" && -f "$VARS_FILE" ]] || die "no cluster in $STATE_DIR (run: $0 start)"
    load_vars
}

cmd_stop() {
    if [[ ! -e "$MARKER" ]]; then
        log "no cluster in $STATE_DIR; nothing to stop"
        return 0
    fi
    stop_all
    log "stopped (state left in $STATE_DIR)"
}

cmd_restart_rgw() {
    require_cluster
    live_pid mon.a >/dev/null || die "the monitor is not running; run '$0 start' instead"
    live_pid osd.0 >/dev/null || die "the OSD is not running; run '$0 start' instead"
    # The caller wants a crash-like restart: SIGKILL, no clean shutdown.
    stop_daemon client.rgw.a KILL
    local deadline=$((SECONDS + 10))
    while port_open "$PORT"; do
        ((SECONDS < deadline)) || die "port $PORT is still in use after radosgw was killed"
        sleep 0.1
    done
    run_daemon client.rgw.a radosgw -n client.rgw.a
    wait_http
    log "radosgw restarted; http://127.0.0.1:$PORT answers"
}

cmd_status() {
    require_cluster
    local d pid rc=1
    echo "state dir: $STATE_DIR ($STORE)"
    for d in "${DAEMONS[@]}"; do
        if pid="$(live_pid "$d")"; then echo "$d: running (pid $pid)"; else echo "$d: not running"; fi
    done
    if http_answers "$PORT"; then
        echo "S3 endpoint http://127.0.0.1:$PORT: answers"
        rc=0
    else
        echo "S3 endpoint http://127.0.0.1:$PORT: not answering"
    fi
    return $rc
}

cmd_env() {
    [[ -f "$ENV_FILE" ]] || die "not started: $ENV_FILE does not exist (run: $0 start)"
    # radosgw may be down for a moment (fault tests); the mon and OSD must be up.
    if ! live_pid mon.a >/dev/null || ! live_pid osd.0 >/dev/null; then
        die "cluster in $STATE_DIR is stopped (run: $0 start)"
    fi
    echo "$ENV_FILE"
}

# ---------------------------------------------------------------------------------------------

main() {
    [[ $# -ge 1 ]] || usage
    local cmd="$1"; shift
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --store) [[ $# -ge 2 ]] || usage; STORE="$2"; shift 2 ;;
            --store=*) STORE="${1#*=}"; shift ;;
            --dir) [[ $# -ge 2 ]] || usage; STATE_DIR="$2"; shift 2 ;;
            --dir=*) STATE_DIR="${1#*=}"; shift ;;
            -h | --help) usage ;;
            *) die "unknown argument '$1'" ;;
        esac
    done
    set_paths
    case "$cmd" in
        install) cmd_install ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        restart-rgw) cmd_restart_rgw ;;
        status) cmd_status ;;
        env) cmd_env ;;
        -h | --help | help) usage ;;
        *) die "unknown subcommand '$cmd'" ;;
    esac
}

main "$@"
