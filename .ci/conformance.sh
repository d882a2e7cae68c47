#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned below) against the remote
# server: streamable HTTP on 127.0.0.1 (.ci/with_remote_server.py starts it with the HeyGen sandbox).
# It runs every server scenario that does not need the suite's own fixture tools, prompts or resources
# (test_simple_text, test://static-text, ...); README "Remote mode" lists the ones left out and why.
# Needs the project installed in the active Python environment. Env knob: INSPECTOR_CACHE_DIR (npm cache
# and local node, shared with .ci/inspector.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFORMANCE_PKG="@modelcontextprotocol/conformance@0.1.16"
SCENARIOS=(
    server-initialize
    ping
    tools-list
    resources-list
    prompts-list
    server-sse-multiple-streams
    dns-rebinding-protection
)

die() { echo "conformance: FAIL: $*" >&2; exit 1; }
command -v npm >/dev/null || die "npm not found on PATH"

cache_dir="${INSPECTOR_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/heygen-video-mcp-inspector}"
work="$(mktemp -d "${TMPDIR:-/tmp}/heygen-conformance.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export npm_config_cache="$cache_dir/npm-cache" npm_config_userconfig="$work/.npmrc"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false npm_config_loglevel=error
: > "$npm_config_userconfig"

# shellcheck source=.ci/node22.sh
. .ci/node22.sh
use_node22 "$cache_dir"

suite="$cache_dir/${CONFORMANCE_PKG##*/}"   # one folder per pinned version
if [ ! -x "$suite/node_modules/.bin/conformance" ]; then
    mkdir -p "$suite"
    timeout 300 npm install --prefix "$suite" --no-save --no-package-lock --silent "$CONFORMANCE_PKG" >&2 \
        || die "could not install $CONFORMANCE_PKG from the npm registry"
fi

# One server for every scenario; each scenario is its own run of the suite, so a failure names it.
python .ci/with_remote_server.py -- bash -c '
    failed=()
    for scenario in "$@"; do
        if ! timeout 120 "'"$suite"'/node_modules/.bin/conformance" server --url "$MCP_URL" \
                --scenario "$scenario" -o "'"$work"'/$scenario" >"'"$work"'/$scenario.log" 2>&1; then
            failed+=("$scenario")
            echo "---- conformance $scenario ----" >&2; tail -n 40 "'"$work"'/$scenario.log" >&2
        fi
    done
    [ "${#failed[@]}" -eq 0 ] || { echo "conformance: FAIL: ${failed[*]}" >&2; exit 1; }
' conformance "${SCENARIOS[@]}"
echo "conformance: OK ($CONFORMANCE_PKG): ${#SCENARIOS[@]} scenarios passed: ${SCENARIOS[*]}"
