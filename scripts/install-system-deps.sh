#!/usr/bin/env bash
# Install the Debian packages the test suite uses for real services, when running as root
# on a Debian-like system and any are missing. Elsewhere, say what is missing and go on:
# the tests that need a missing service skip with the reason.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: not root or no apt-get; tests needing these packages will skip: ${missing[*]}"
fi
