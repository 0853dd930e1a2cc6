#!/usr/bin/env bash
# The steps of the composite GitHub Action in action.yml, one sub-command per step:
#
#   gha-setup.sh install   install mcp-router into a venv under $RUNNER_TEMP and put it on
#                          $GITHUB_PATH (env: INPUT_VERSION, GITHUB_ACTION_PATH)
#   gha-setup.sh store     mask the value and store it with 'mcp-router token set --stdin'
#                          (env: INPUT_TOKEN_NAME, INPUT_TOKEN_VALUE, INPUT_CONFIG,
#                          INPUT_BACKEND, MCP_ROUTER_PASSPHRASE)
#
# The token value arrives in this shell's environment only. It is taken into an unexported
# variable and removed from the environment before any program starts, so no child process
# sees it in its arguments or environment; it reaches mcp-router through a pipe from the
# printf builtin. tests/test_github_action.py runs these steps as the runner does.

# Never trace: a trace prints commands with their values expanded (SHELLOPTS=xtrace in the
# job's env would otherwise switch it on here).
{ set +x; } 2>/dev/null
set -euo pipefail

fail() {
  printf '::error title=mcp-router setup::%s\n' "$1"
  exit "${2:-1}"
}

# Tell the runner to hide a value in every later log line. Workflow-command data escapes
# %, CR and LF (as @actions/core does); a multi-line value is also masked line by line,
# because the runner matches masks against single log lines.
add_mask() {
  local value=$1 rest line
  local escaped=${value//'%'/%25}
  escaped=${escaped//$'\r'/%0D}
  escaped=${escaped//$'\n'/%0A}
  printf '::add-mask::%s\n' "$escaped"
  [[ $value == *$'\n'* ]] || return 0
  rest=$value
  while [ -n "$rest" ]; do
    line=${rest%%$'\n'*}
    if [[ $rest == *$'\n'* ]]; then rest=${rest#*$'\n'}; else rest=; fi
    line=${line%$'\r'}
    [ -z "$line" ] || printf '::add-mask::%s\n' "${line//'%'/%25}"
  done
}

is_windows() { [ "${RUNNER_OS:-}" = "Windows" ]; }

# A path as programs outside this shell understand it (C:\... under Git Bash on Windows).
native_path() {
  if is_windows && command -v cygpath >/dev/null 2>&1; then cygpath -w "$1"; else printf '%s\n' "$1"; fi
}

find_python() {
  local candidate
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  fail "mcp-router needs Python 3.10 or newer on PATH (add an actions/setup-python step before this action)"
}

install() {
  : "${RUNNER_TEMP:?RUNNER_TEMP is not set: run this as a GitHub Actions step}"
  : "${GITHUB_PATH:?GITHUB_PATH is not set: run this as a GitHub Actions step}"
  local version=${INPUT_VERSION:-} python venv bin spec
  if [ -n "$version" ]; then
    [[ $version =~ ^[0-9A-Za-z.!+_-]+$ ]] || fail "version '$version' is not a version number (example: 0.1.0)"
    spec="mcp-router==$version"
  else
    spec=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set and no version was given}
  fi
  python=$(find_python)
  venv="$RUNNER_TEMP/mcp-router-venv"
  bin="$venv/bin"
  is_windows && bin="$venv/Scripts"
  echo "installing $spec into $venv"
  "$python" -m venv "$venv"
  "$bin/python" -m pip install --quiet --no-input --disable-pip-version-check "$spec"
  # The name mcp-router on a package index may belong to another project: insist on ours
  # (it registers the mcp_router.backends entry points) before anything runs it.
  "$bin/python" -c 'import importlib.metadata as m, sys
names = {e.name for e in m.entry_points(group="mcp_router.backends")}
sys.exit(0 if "file" in names else 1)' ||
    fail "the installed mcp-router ($spec) is not this project; leave 'version' empty to install from the action's own checkout"
  "$bin/mcp-router" --version
  native_path "$bin" >>"$GITHUB_PATH"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "bin=$(native_path "$bin")" >>"$GITHUB_OUTPUT"; fi
}

export_env() {  # NAME VALUE: for this step and, through $GITHUB_ENV, every later one
  [[ $2 != *$'\n'* ]] || fail "$1 must be a single line"
  export "$1=$2"
  if [ -n "${GITHUB_ENV:-}" ]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_ENV"; fi
}

store() {
  local name=${INPUT_TOKEN_NAME:-} value=${INPUT_TOKEN_VALUE:-} config dir backend
  unset INPUT_TOKEN_VALUE  # from here on the value lives only in this shell's memory
  [ -n "$name" ] || fail "the input token-name is required"
  [ -n "$value" ] || fail "the input token-value is empty (is the secret defined and available to this workflow?)"
  add_mask "$value"
  if [ -n "${MCP_ROUTER_PASSPHRASE:-}" ]; then
    add_mask "$MCP_ROUTER_PASSPHRASE"
  else
    unset MCP_ROUTER_PASSPHRASE
  fi
  if [ -n "${INPUT_CONFIG:-}" ]; then
    [ -f "$INPUT_CONFIG" ] || fail "config file '$INPUT_CONFIG' does not exist"
    dir=$(cd "$(dirname "$INPUT_CONFIG")" && pwd)
    config=$(native_path "$dir/$(basename "$INPUT_CONFIG")")
    export_env MCP_ROUTER_CONFIG "$config"
  fi
  if [ -n "${INPUT_BACKEND:-}" ]; then export_env MCP_ROUTER_BACKEND "$INPUT_BACKEND"; fi
  command -v mcp-router >/dev/null 2>&1 || fail "mcp-router is not on PATH (the install step did not run?)"
  # --force: the action sets the token to this value, also when a re-run finds it stored.
  printf '%s' "$value" | mcp-router token set --name "$name" --stdin --force
  backend=$(mcp-router token list --json | "$(dirname "$(command -v mcp-router)")/python" -c '
import json, sys
name = sys.argv[1]
print(next(t["backend"] for t in json.load(sys.stdin) if t["name"] == name))' "$name")
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "backend=$backend" >>"$GITHUB_OUTPUT"; fi
  if [ -n "${MCP_ROUTER_PASSPHRASE:-}" ]; then check_passphrase_applies "$name" "$backend"; fi
  echo "mcp-router is ready: token '$name' is in the $backend store"
}

# A token file made earlier without a passphrase keeps being opened without one: the
# passphrase would then protect nothing. Say so instead of leaving a false impression.
check_passphrase_applies() {
  if [ "$2" != file ]; then
    echo "::warning title=mcp-router setup::the passphrase input applies only to the encrypted file; the token is in the $2 store"
    return 0
  fi
  if env -u MCP_ROUTER_PASSPHRASE mcp-router token get --name "$1" --export --yes >/dev/null 2>&1; then
    fail "the token file was created earlier without a passphrase, so the passphrase input does not protect it; delete that file's tokens first, or use the passphrase for every token of the job"
  fi
}

case "${1:-}" in
  install) install ;;
  store) store ;;
  *) fail "usage: gha-setup.sh install|store" 2 ;;
esac
