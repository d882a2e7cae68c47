#!/usr/bin/env bash
# A real client follows a render as an MCP Task: the Inspector CLI on the 2026-07-28 era declares the Tasks
# extension, gets a task back from generate_video, polls tasks/get by itself and prints the final result,
# which must be the saved video. The server talks to the HeyGen sandbox on 127.0.0.1 (nothing leaves).
#
# Usage: .ci/inspector-tasks.sh [server-command]   (default: heygen-video-mcp on PATH; python3 must import it)
# Env knobs: INSPECTOR_CACHE_DIR (npm cache + local node; default ~/.cache/heygen-video-mcp-inspector).
set -euo pipefail

# The Inspector package is pinned once, in .ci/inspector.sh.
INSPECTOR_PKG="$(sed -n 's/^INSPECTOR_PKG="\(.*\)"$/\1/p' "$(dirname "$0")/inspector.sh")"
die() { echo "inspector-tasks: FAIL: $*" >&2; exit 1; }

command -v npm >/dev/null || die "npm not found on PATH"
[ -n "$INSPECTOR_PKG" ] || die "no INSPECTOR_PKG in .ci/inspector.sh"
server_exe="$(command -v -- "${1:-heygen-video-mcp}" || true)"
[ -n "$server_exe" ] || die "server command '${1:-heygen-video-mcp}' not found"
python="$(dirname "$server_exe")/python3"; [ -x "$python" ] || python=python3

cache_dir="${INSPECTOR_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/heygen-video-mcp-inspector}"
mkdir -p "$cache_dir/npm-cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/heygen-inspector-tasks.XXXXXX")"
sandbox_pid=""
trap '[ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/home"
export HOME="$work/home" npm_config_cache="$cache_dir/npm-cache" npm_config_yes=true npm_config_loglevel=error
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false NO_UPDATE_NOTIFIER=1

# shellcheck source=.ci/node22.sh
. "$(dirname "$0")/node22.sh"
use_node22 "$cache_dir"

"$python" -m heygen_video_mcp.server.sandbox --port 0 >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 50); do
    base="$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/sandbox.log" | head -1 || true)"
    [ -n "$base" ] && break
    sleep 0.2
done
[ -n "$base" ] || die "the sandbox did not start: $(cat "$work/sandbox.log")"

timeout 300 npx -y "$INSPECTOR_PKG" --cli --protocol-era modern \
    -e HEYGEN_API_KEY=sandbox-key -e "HEYGEN_API_BASE_URL=$base" -e "HEYGEN_OUTPUT_DIR=$work/videos" \
    -e "HEYGEN_LIBRARY_PATH=$work/library.db" \
    --method tools/call --tool-name generate_video --tool-arg "prompt=A lighthouse in a storm, slow dolly-in" \
    -- "$server_exe" >"$work/result.json" 2>"$work/err.txt" || die "the inspector failed: $(tail -20 "$work/err.txt")"

"$python" - "$work/result.json" <<'PY'
import json, os, sys

result = json.load(open(sys.argv[1]))
video = result.get("structuredContent") or {}
assert not result.get("isError"), result
assert video.get("status") == "completed", f"the task did not end in a completed video: {video}"
assert video.get("local_path") and os.path.getsize(video["local_path"]) > 0, f"no saved file: {video}"
print(f"inspector-tasks: OK: the Inspector followed the task to {video['local_path']}")
PY
