#!/usr/bin/env bash
# Writes the `bulwark` command: a shell script that runs this checkout's
# built CLI (apps/agent/dist/bulwark.js) on a given Node 24, so that the
# README's host steps work with what scripts/setup.sh installed:
#   export PATH="$PWD/.tools/bin:$PATH"
# Usage: write-bulwark-command.sh DIRECTORY NODE [CHECKOUT]
set -euo pipefail
directory=$1
node=$2
root=${3:-$(cd "$(dirname "$0")/.." && pwd)}
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
mkdir -p "$directory"
target="$directory/bulwark"
cat > "$target.tmp" <<SCRIPT
#!/bin/sh
# Written by scripts/setup.sh: this checkout's bulwark CLI on Node 24.
root=$(quote "$root")
bundle="\$root/apps/agent/dist/bulwark.js"
if [ ! -f "\$bundle" ]; then
  echo "bulwark: not built yet: run ./run build in \$root" >&2
  exit 1
fi
exec $(quote "$node") "\$bundle" "\$@"
SCRIPT
chmod 0755 "$target.tmp"
mv -f "$target.tmp" "$target"
