#!/usr/bin/env bash
# The main job end to end on the encrypted-file store, in a throw-away config directory:
# store a token from stdin, list it, read it back, delete it.
set -euo pipefail
MCP_ROUTER=${1:-mcp-router}
demo_dir=$(mktemp -d)
trap 'rm -rf "$demo_dir"' EXIT
export XDG_CONFIG_HOME="$demo_dir/config" HOME="$demo_dir/home"
mkdir -p "$HOME"
secret="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

run() { echo "\$ $*" | sed "s/$secret/<secret>/g"; "$@"; }

echo "== storing a token from stdin (the value never appears on a command line)"
printf '%s\n' "$secret" | run "$MCP_ROUTER" --backend file token set --name gateway-token --stdin
echo "== listing tokens"
run "$MCP_ROUTER" --backend file token list
echo "== showing metadata and a masked preview"
run "$MCP_ROUTER" --backend file token get --name gateway-token
echo "== reading the value back for a script"
got=$("$MCP_ROUTER" --backend file token get --name gateway-token --export --yes)
echo "\$ $MCP_ROUTER --backend file token get --name gateway-token --export --yes"
[ "$got" = "$secret" ] && echo "round trip OK: the exported value matches what was stored"
echo "== the file on disk is ciphertext"
ls -l "$XDG_CONFIG_HOME/mcp-router/tokens.enc"
if grep -q "$secret" "$XDG_CONFIG_HOME/mcp-router/tokens.enc"; then
  echo "FAIL: the secret is readable in the file"; exit 1
fi
echo "== deleting it"
run "$MCP_ROUTER" --backend file token delete --name gateway-token --yes
run "$MCP_ROUTER" --backend file token list
echo "demo finished: stored, listed, read back and deleted on the encrypted-file store"
