#!/usr/bin/env bash
# The MCP Inspector CLI (pinned as in .ci/inspector.sh) drives the remote server over streamable HTTP with
# a bearer token: tools/list, tools/call (list_providers, and generate_video against the HeyGen sandbox; a bad
# provider and an unknown execution id, which must come back as error results in our words), prompts/get; and
# a call without the token is refused. .ci/with_remote_server.py starts the server.
# Needs the project installed in the active Python environment.
set -euo pipefail
cd "$(dirname "$0")/.."

INSPECTOR_PKG="$(sed -n 's/^INSPECTOR_PKG="\(.*\)"$/\1/p' .ci/inspector.sh)"

die() { echo "inspector-http: FAIL: $*" >&2; exit 1; }
command -v npm >/dev/null || die "npm not found on PATH"
[ -n "$INSPECTOR_PKG" ] || die "no INSPECTOR_PKG in .ci/inspector.sh"

cache_dir="${INSPECTOR_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/heygen-video-mcp-inspector}"
work="$(mktemp -d "${TMPDIR:-/tmp}/heygen-inspector-http.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home"
export HOME="$work/home" MCP_CATALOG_PATH="$work/home/mcp.json"
export npm_config_cache="$cache_dir/npm-cache" npm_config_userconfig="$work/.npmrc" npm_config_yes=true
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false npm_config_loglevel=error
export NO_UPDATE_NOTIFIER=1 INSPECTOR_PKG WORK="$work"
: > "$npm_config_userconfig"

# shellcheck source=.ci/node22.sh
. .ci/node22.sh
use_node22 "$cache_dir"

python .ci/with_remote_server.py --token -- bash -c '
    set -euo pipefail
    inspect() { # $1 = label, rest = inspector args; stdout -> $WORK/$label.json
        local label="$1"; shift
        timeout 300 npx -y "$INSPECTOR_PKG" --cli "$MCP_URL" --transport http "$@" \
            >"$WORK/$label.json" 2>"$WORK/$label.err" || { echo "$label: exit $?" >"$WORK/$label.rc"; }
    }
    auth=(--header "Authorization: Bearer $MCP_TOKEN")
    inspect tools_list "${auth[@]}" --method tools/list
    inspect list_providers "${auth[@]}" --method tools/call --tool-name list_providers
    inspect generate "${auth[@]}" --method tools/call --tool-name generate_video \
        --tool-arg "prompt=A paper boat drifting down a rain-soaked street, low angle, soft morning light" \
        --tool-arg provider=ltx_distilled
    inspect bad_provider "${auth[@]}" --method tools/call --tool-name generate_video \
        --tool-arg "prompt=A lighthouse in a storm" --tool-arg provider=nope
    inspect unknown_id "${auth[@]}" --method tools/call --tool-name check_status \
        --tool-arg execution_id=node-gw-unknown123
    inspect prompt "${auth[@]}" --method prompts/get --prompt-name cinematic_video \
        --prompt-args "idea=a lighthouse in a storm"
    inspect no_token --method tools/list
    python3 .ci/inspector_http_check.py "$WORK"
'
