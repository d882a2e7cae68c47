#!/usr/bin/env bash
# Smoke-test the stdio MCP server with a real third-party client: the MCP Inspector CLI.
#
# Usage: .ci/inspector.sh [server-command [args...]]   (default: heygen-video-mcp on PATH)
#
# The inspector (pinned below) requires Node >= 22.19: .ci/node22.sh provides one.
# Env knobs: INSPECTOR_CACHE_DIR (npm cache + local node; default ~/.cache/heygen-video-mcp-inspector).
set -euo pipefail

INSPECTOR_PKG="@modelcontextprotocol/inspector@2.12.0"
EXPECTED_TOOLS=(generate_video check_status wait_for_video list_providers download_video list_videos)
EXPECTED_PROVIDERS=(veo_3_1 ltx_distilled)

die() { echo "inspector: FAIL: $*" >&2; exit 1; }

command -v npm >/dev/null || die "npm not found on PATH"
command -v python3 >/dev/null || die "python3 not found on PATH"
command -v timeout >/dev/null || die "timeout (coreutils) not found on PATH"

# --- server command -------------------------------------------------------------------------
if [ "$#" -eq 0 ]; then set -- heygen-video-mcp; fi
server_exe="$(command -v -- "$1" || true)"
[ -n "$server_exe" ] || die "server command '$1' not found (pass it as \$1, e.g. /path/venv/bin/heygen-video-mcp)"
shift
SERVER_CMD=("$server_exe" "$@")

# --- isolated environment --------------------------------------------------------------------
orig_home="${HOME:-/tmp}"
cache_dir="${INSPECTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$orig_home/.cache}/heygen-video-mcp-inspector}"
mkdir -p "$cache_dir/npm-cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/heygen-inspector.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/output"

export HOME="$work/home"                    # inspector writes ~/.mcp-inspector; keep it out of the real home
unset HEYGEN_API_KEY                        # keyless: check_status must say how to add one; nothing reaches HeyGen
export MCP_CATALOG_PATH="$work/home/mcp.json"
export HEYGEN_OUTPUT_DIR="$work/output"
export npm_config_cache="$cache_dir/npm-cache"
export npm_config_userconfig="$work/home/.npmrc"   # ignore the user's npmrc (its warnings, prompts)
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
export npm_config_loglevel=error npm_config_yes=true
export NO_UPDATE_NOTIFIER=1
: > "$npm_config_userconfig"

# --- Node >= 22.19 ---------------------------------------------------------------------------
# shellcheck source=.ci/node22.sh
. "$(dirname "$0")/node22.sh"
use_node22 "$cache_dir"

# --- run the inspector -----------------------------------------------------------------------
run_inspector() { # $1 = label, rest = inspector method args; stdout -> $work/$label.json
    local label="$1"; shift
    local rc=0 want="${EXPECT_RC:-0}"   # the inspector exits 5 after printing a result with isError: true
    timeout 300 npx -y "$INSPECTOR_PKG" --cli \
        -e "HEYGEN_OUTPUT_DIR=$HEYGEN_OUTPUT_DIR" "$@" -- "${SERVER_CMD[@]}" \
        >"$work/$label.json" 2>"$work/$label.err" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "---- inspector $label stdout ----" >&2; head -c 4000 "$work/$label.json" >&2 || true
        echo "---- inspector $label stderr ----" >&2; tail -n 40 "$work/$label.err" >&2 || true
        [ "$rc" -eq 124 ] && die "inspector $label timed out after 300s"
        die "inspector $label exited with status $rc, not $want"
    fi
}

run_inspector tools_list --method tools/list
run_inspector tools_call --method tools/call --tool-name list_providers
# Errors must reach the model in our words: an error result, not a client-side schema failure.
EXPECT_RC=5 run_inspector bad_provider --method tools/call --tool-name generate_video \
    --tool-arg "prompt=A lighthouse in a storm" --tool-arg provider=nope
EXPECT_RC=5 run_inspector no_key --method tools/call --tool-name check_status \
    --tool-arg execution_id=node-gw-unknown123

# --- assertions ------------------------------------------------------------------------------
python3 - "$work/tools_list.json" "$work/tools_call.json" "${EXPECTED_TOOLS[*]}" "${EXPECTED_PROVIDERS[*]}" "$INSPECTOR_PKG" \
    "$work" <<'PY'
import json, sys

list_path, call_path, tools_arg, providers_arg, pkg, work = sys.argv[1:7]

def fail(msg):
    print(f"inspector: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)

def load(path, what):
    text = open(path, encoding="utf-8").read()
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"{what} output is not JSON ({exc}): {text[:500]!r}")

listed = load(list_path, "tools/list")
names = [t.get("name") for t in listed.get("tools", []) if isinstance(t, dict)]
missing = [t for t in tools_arg.split() if t not in names]
if missing:
    fail(f"tools/list is missing {missing}; server listed {names}")

result = load(call_path, "tools/call list_providers")
if result.get("isError") is True:
    fail(f"tools/call list_providers returned isError=true: {json.dumps(result)[:1000]}")
texts = "\n".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))
if not texts.startswith("HeyGen video providers"):
    fail(f"tools/call list_providers text content is unexpected: {texts[:300]!r}")
structured = (result.get("structuredContent") or {}).get("providers") or []
values = [p.get("value") for p in structured if isinstance(p, dict)]
for want in providers_arg.split():
    if want not in texts:
        fail(f"tools/call list_providers text does not mention {want!r}")
    if want not in values:
        fail(f"tools/call list_providers structuredContent.providers lacks {want!r}; got {values}")

for label, words in (("bad_provider", "provider 'nope' is unknown"), ("no_key", "HEYGEN_API_KEY is not set")):
    error = load(f"{work}/{label}.json", f"tools/call ({label})")
    said = "\n".join(c.get("text", "") for c in error.get("content", []) if isinstance(c, dict))
    if error.get("isError") is not True or words not in said or "\nNext: " not in said:
        fail(f"tools/call ({label}) is not an error result saying {words!r} and what to do: {json.dumps(error)[:800]}")

print(f"inspector: OK ({pkg}): tools/list -> {len(names)} tools incl. {', '.join(tools_arg.split())}; "
      f"tools/call list_providers -> {len(values)} providers incl. {', '.join(providers_arg.split())}, isError not set; "
      "generate_video with a bad provider and check_status without a key -> error results in our words")
PY
