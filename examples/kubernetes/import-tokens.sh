#!/usr/bin/env bash
# Copy tokens from a Kubernetes Secret into mcp-router's secure storage, one token per key:
#
#   import-tokens.sh [SECRET [KEY...]]      default: mcp-tokens gateway-token
#
# Each token is stored under its key's name. The value goes kubectl -> jq -> base64 -d ->
# mcp-router through pipes only: never a command line, a variable or a file. Needs kubectl
# with read access to the Secret (e.g. a Role with "get" on secrets/mcp-tokens), jq and
# base64. Re-running replaces the stored values (--force), so it can run on every start.
set -euo pipefail

secret=${1:-mcp-tokens}
if [ $# -gt 1 ]; then shift; keys=("$@"); else keys=(gateway-token); fi

for key in "${keys[@]}"; do
  # A key missing from the Secret is an error, not the text "null" decoded as bytes.
  kubectl get secret "$secret" -o json |
    jq -r --arg key "$key" '.data[$key] // error("key \"\($key)\" is not in the Secret")' |
    base64 -d |
    mcp-router token set --name "$key" --stdin --force
done
