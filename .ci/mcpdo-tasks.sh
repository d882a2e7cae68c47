#!/usr/bin/env bash
# A real client sends the task methods: mcpdo (the connection CLI in @modelcontextprotocol/inspector 2.12.0)
# on both eras. 2025-11-25: `tools/call --task` follows a generate_video task to the saved video; a render
# still working is seen by tasks/list and tasks/get, and tasks/cancel cancels it. 2026-07-28: the server
# answers generate_video with a task by itself; mcpdo's tasks/get sees it working and tasks/cancel cancels
# it (its id comes from tasks/list on a 2025-11-25 connection to the same library: tasks live there). Two
# HeyGen sandboxes on 127.0.0.1 (nothing leaves): one renders in 1 s, one in 10 minutes, so a task is
# surely still working when it is cancelled.
#
# Usage: .ci/mcpdo-tasks.sh [server-command]   (default: heygen-video-mcp on PATH; python3 must import it)
# Env knobs: INSPECTOR_CACHE_DIR (npm cache + local node; default ~/.cache/heygen-video-mcp-inspector).
set -euo pipefail

# The Inspector package is pinned once, in .ci/inspector.sh.
INSPECTOR_PKG="$(sed -n 's/^INSPECTOR_PKG="\(.*\)"$/\1/p' "$(dirname "$0")/inspector.sh")"
die() { echo "mcpdo-tasks: FAIL: $*" >&2; exit 1; }

command -v npm >/dev/null || die "npm not found on PATH"
[ -n "$INSPECTOR_PKG" ] || die "no INSPECTOR_PKG in .ci/inspector.sh"
server_exe="$(command -v -- "${1:-heygen-video-mcp}" || true)"
[ -n "$server_exe" ] || die "server command '${1:-heygen-video-mcp}' not found"
python="$(dirname "$server_exe")/python3"; [ -x "$python" ] || python=python3

cache_dir="${INSPECTOR_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/heygen-video-mcp-inspector}"
mkdir -p "$cache_dir/npm-cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/heygen-mcpdo-tasks.XXXXXX")"
sandboxes=()
daemon=""
cleanup() {
    [ -n "$daemon" ] && timeout 60 npx -y -p "$INSPECTOR_PKG" mcpdo daemon stop >/dev/null 2>&1
    for pid in "${sandboxes[@]}"; do kill "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home"
export HOME="$work/home" npm_config_cache="$cache_dir/npm-cache" npm_config_yes=true npm_config_loglevel=error
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false NO_UPDATE_NOTIFIER=1

# shellcheck source=.ci/node22.sh
. "$(dirname "$0")/node22.sh"
use_node22 "$cache_dir"

mcpdo() { timeout 120 npx -y -p "$INSPECTOR_PKG" mcpdo "$@" 2>>"$work/mcpdo.err"; }

sandbox() { # $1 = a variable to set to the sandbox's base URL, $2 = its render seconds
    "$python" -m heygen_video_mcp.server.sandbox --port 0 --render-seconds "$2" >"$work/sandbox-$1.log" 2>&1 &
    sandboxes+=($!)
    local url=""
    for _ in $(seq 50); do
        url="$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/sandbox-$1.log" | head -1 || true)"
        [ -n "$url" ] && break
        sleep 0.2
    done
    [ -n "$url" ] || die "the sandbox did not start: $(cat "$work/sandbox-$1.log")"
    printf -v "$1" '%s' "$url"
}
sandbox fast 1
sandbox slow 600

# A private, token-gated daemon holds the connections; it is stopped on the way out.
eval "$(mcpdo private)"
daemon=1
connect() { # $1 = connection name, $2 = era, $3 = sandbox URL, $4 = library name
    mcpdo connect --connection "$1" --era "$2" -e HEYGEN_API_KEY=sandbox-key -e "HEYGEN_API_BASE_URL=$3" \
        -e "HEYGEN_OUTPUT_DIR=$work/videos" -e "HEYGEN_LIBRARY_PATH=$work/$4.db" -- "$server_exe" >/dev/null \
        || die "mcpdo could not connect $1: $(tail -5 "$work/mcpdo.err")"
}
connect fast-legacy legacy "$fast" fast
# The call that starts a render is one connection (mcpdo keeps following it there); the task methods go on
# another (another server process on the same library, so this also shows that tasks live in the library).
for era in legacy modern; do
    connect "slow-$era" "$era" "$slow" slow
    connect "slow-$era-call" "$era" "$slow" slow
done

check() { # $1 = what the JSON in $2 must satisfy (a Python expression over `out`)
    "$python" - "$1" "$2" <<'PY' || die "$1 failed on: $(head -c 1500 "$2")"
import json, os, sys
out = json.load(open(sys.argv[2]))
task = out.get("task", out)
assert eval(sys.argv[1], {"out": out, "task": task, "os": os}), sys.argv[1]
PY
}

working_task() { # $1 = a 2025-11-25 connection; prints the id of its library's one working task
    for _ in $(seq 60); do
        mcpdo --format json --connection "$1" tasks/list >"$work/list.json" || die "tasks/list failed"
        id="$("$python" -c 'import json, sys
print(next((t["taskId"] for t in json.load(open(sys.argv[1]))["tasks"] if t["status"] == "working"), ""))' \
            "$work/list.json")"
        [ -n "$id" ] && { echo "$id"; return 0; }
        sleep 1
    done
    die "no working task appeared in tasks/list: $(cat "$work/list.json")"
}

# 2025-11-25: a task followed to the saved video.
mcpdo --format json --connection fast-legacy tools/call generate_video prompt:='"A lighthouse in a storm"' --task \
    >"$work/followed.json" || die "tools/call --task failed: $(tail -5 "$work/mcpdo.err")"
check 'out["structuredContent"]["status"] == "completed" and os.path.getsize(out["structuredContent"]["local_path"]) > 0' \
    "$work/followed.json"
echo "mcpdo-tasks: OK: 2025-11-25: tools/call --task followed the task to the saved video"

cancel() { # $1 = the connection for the task methods ($1-call starts the render), $2 = its flags, $3 = era
    # shellcheck disable=SC2086  # $2 is no flag or one
    mcpdo --format json --connection "$1-call" tools/call generate_video prompt:='"Waves on black sand"' $2 \
        >"$work/call-$1.json" 2>&1 &
    caller=$!
    id="$(working_task slow-legacy)"
    mcpdo --format json --connection "$1" tasks/get "$id" >"$work/get.json" || die "tasks/get failed: $(tail -5 "$work/mcpdo.err")"
    check 'task["status"] == "working" and task["statusMessage"]' "$work/get.json"
    mcpdo --format json --connection "$1" tasks/cancel "$id" >"$work/cancel.json" || die "tasks/cancel failed: $(tail -5 "$work/mcpdo.err")"
    mcpdo --format json --connection "$1" tasks/get "$id" >"$work/after.json" || die "tasks/get failed: $(tail -5 "$work/mcpdo.err")"
    check 'task["status"] == "cancelled" and "stays in the library" in task["statusMessage"]' "$work/after.json"
    wait "$caller" || true  # mcpdo's own follow of the call ends once the task is cancelled
    echo "mcpdo-tasks: OK: $3: tasks/get saw the task working; tasks/cancel cancelled it"
}
cancel slow-legacy --task 2025-11-25
# The first task of this library is cancelled by now, so the next working one is the modern call's.
cancel slow-modern "" 2026-07-28
